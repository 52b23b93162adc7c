"""One import entry point for ``emgrec import`` and the GUI's Import dialog.

:func:`guess_format` tells a source's layout from its content; :func:`import_to_session` runs the
importer of a format (:mod:`recorder.imports.tables`, :mod:`recorder.imports.xdf`,
:mod:`recorder.imports.pose`, :mod:`recorder.imports.folder`) crash-safely:

- an existing output is refused unless ``force`` (an output that is one of the inputs always is);
- the output's write lock is held for the whole import, so no recording starts there meanwhile and
  a session being recorded there is refused (:class:`~recorder.session.writelock.SessionBusyError`);
- the importer writes a hidden temporary file next to the output (not ``.h5``: the library does
  not list it), renamed to the output only when complete and not cancelled; on failure or cancel
  it is removed, and so is an output folder the import created, so nothing is left;
- every error names the file it is about (the source for a damaged input, the output for a clash).

The importers have no progress hooks: ``progress`` (called with a :class:`recorder.core.types.Progress`,
total 1.0, as :mod:`recorder.export.files`) is called when a file starts and when the import is done, and ``cancel`` (a ``threading.Event`` or
a callable returning True) is honoured before the import, between the recordings of a folder and
before the rename, raising :class:`~recorder.core.errors.Cancelled`.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from recorder.core.errors import Cancelled, EmgrecError, UsageError
from recorder.imports.tables import ImportFormatError
from recorder.core.types import Progress, ProgressCallback

__all__ = ["FORMATS", "ImportResult", "guess_format", "import_to_session"]

#: Import formats, name -> what it reads (in the order the dialog lists them).
FORMATS: dict[str, str] = {
    "myo-readings": "myo-readings (e1..e8,label per line; a k.txt or a folder of 0.txt..7.txt)",
    "neurotron": "Neurotron (Myo 50 Hz CSV with Unix-second times)",
    "csv": "Generic CSV (map the columns below)",
    "xdf": "XDF (Lab Streaming Layer recording)",
    "paired": "EMG file + pose file, each with its own clock (aligned; see docs/import.md)",
    "table": "One table with EMG and 3-D joints on the same rows (see docs/import.md)",
    "folder": "Dataset folder: many recordings, class from the file name (see docs/import.md)",
}



@dataclass
class ImportResult:
    """What an import wrote: ``paths`` (one session, or one per group of a folder import), each
    path's ``SessionReader.summary()``, the format, and for ``paired`` the alignment report."""
    paths: list[Path]
    format: str
    summaries: list[dict] = field(default_factory=list)
    alignment: dict | None = None

    @property
    def path(self) -> Path:
        return self.paths[0]


def guess_format(path, *, strict: bool = False) -> str:
    """The import format of ``path`` from its content: "xdf" (by its magic bytes), "myo-readings" (a
    folder of 0.txt..7.txt, or a k.txt of 9 integer fields), "neurotron" (9 fields, 8 channels and a
    Unix-second time), "folder" (any other folder: a dataset folder) or "csv" (anything else).

    strict: raise, naming the path, when it is missing, empty or not text, and for a folder in no
    known layout (the command line wants to say why); else such a path guesses "csv" or "folder"."""
    from recorder.imports.tables import _myo_files, detect_format
    from recorder.imports.xdf import is_xdf

    path = Path(path)
    if path.is_dir():
        try:
            _myo_files(path)
            return "myo-readings"
        except ImportFormatError:
            if strict:
                raise
            return "folder"
    if path.is_file() and is_xdf(path):
        return "xdf"
    try:
        return detect_format(path)
    except (ImportFormatError, OSError):
        if strict:
            raise
        return "csv"


def _cancel_check(cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    if callable(cancel):
        return cancel
    raise TypeError("cancel must be a threading.Event, a callable or None")


def _names_file(msg: str, paths) -> bool:
    return any(p is not None and (str(p) in msg or Path(p).name in msg) for p in paths)


def _with_file_named(e: BaseException, src: Path, out: Path, tmp: Path | None) -> BaseException | None:
    """The error to raise instead of ``e`` so that its message names a file: the output where it
    named the hidden temporary file, else the source when it named no file at all. None: keep ``e``."""
    msg = str(e)
    if tmp is not None and (str(tmp) in msg or tmp.name in msg):
        msg = msg.replace(str(tmp), str(out)).replace(tmp.name, out.name)
    elif _names_file(msg, (src, out)) or isinstance(e, (Cancelled, EmgrecError)):
        return None
    else:
        msg = f"{src}: {msg}"
    if isinstance(e, (ValueError, KeyError, IndexError)):
        return ImportFormatError(msg)  # a ValueError, as before
    if type(e) in (OSError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError):
        return type(e)(e.errno, msg) if e.errno is not None else type(e)(msg)
    if type(e) is RuntimeError:
        return RuntimeError(msg)
    return None


def _one_file(fmt: str, src: Path, dst: Path, options: dict) -> dict | None:
    """Run the importer of ``fmt`` from ``src`` to ``dst``; returns the alignment report (paired)."""
    if fmt == "myo-readings":
        from recorder.imports.tables import import_myo_readings
        import_myo_readings(src, dst, **options)
    elif fmt == "neurotron":
        from recorder.imports.tables import import_neurotron
        import_neurotron(src, dst, **options)
    elif fmt == "csv":
        from recorder.imports.tables import import_csv
        import_csv(src, dst, **options)
    elif fmt == "xdf":
        from recorder.imports.xdf import import_xdf
        import_xdf(src, dst, **options)
    elif fmt == "table":
        from recorder.imports.pose import import_table
        import_table(src, dst, **options)
    elif fmt == "paired":
        from recorder.imports.pose import import_paired
        opts = dict(options)
        pose = opts.pop("pose_file")
        return import_paired(src, pose, dst, **opts)[1]
    else:
        raise UsageError(f"unknown import format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return None


def _summaries(paths) -> list[dict]:
    from recorder.session.format import SessionReader
    out = []
    for p in paths:
        with SessionReader(p) as r:
            out.append(r.summary())
    return out


def import_to_session(src, out, fmt: str | None = None, *, force: bool = False, progress: ProgressCallback | None = None,
                      cancel=None, **options) -> ImportResult:
    """Import ``src`` (a file, or a folder for myo-readings and folder imports) in format ``fmt``
    (None: :func:`guess_format`, strict) into the session file ``out`` (folder imports: a session file
    or a folder of them); see the module docstring for the guarantees.

    options: the importer's keyword arguments (``subject``, ``notes``, and per format those of
    :func:`~recorder.imports.tables.import_csv`, :func:`~recorder.imports.xdf.import_xdf`,
    :func:`~recorder.imports.pose.import_table`, :func:`~recorder.imports.folder.import_folder`, or of
    :func:`~recorder.imports.pose.import_paired` with ``pose_file``, the pose file's path)."""
    from recorder.session.writelock import WriteLock, check_output

    src, out = Path(src), Path(out)
    cancelled = _cancel_check(cancel)
    if fmt is None:
        fmt = guess_format(src, strict=True)
    if fmt not in FORMATS:
        raise UsageError(f"unknown import format {fmt!r}: expected one of {', '.join(FORMATS)}")

    def step(frac: float, msg: str) -> None:
        if cancelled():
            raise Cancelled(f"import of {src} cancelled")
        if progress is not None:
            progress(Progress.of_fraction(frac, msg))

    if fmt == "folder":
        return _import_folder(src, out, force, step, options)
    inputs = [src] + ([options["pose_file"]] if fmt == "paired" and options.get("pose_file") else [])
    check_output(out, inputs, force=force, what="import output")
    made = _make_parent(out)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.importing")
    with _undone_on_failure(made, src, out, tmp):
        lock = WriteLock(out, "an import").acquire("import into it")
        try:
            step(0.0, f"importing {src.name}")
            try:
                alignment = _one_file(fmt, src, tmp, options)
                step(1.0, f"writing {out.name}")
                os.replace(tmp, out)
            finally:
                tmp.unlink(missing_ok=True)
        finally:
            lock.release()
    if progress is not None:
        progress(Progress.of_fraction(1.0, f"wrote {out}"))
    return ImportResult([out], fmt, _summaries([out]), alignment)


def _import_folder(src: Path, out: Path, force: bool, step, options: dict) -> ImportResult:
    from recorder.imports.folder import import_folder
    from recorder.imports.tables import _parse_columns
    cols = options.get("emg_columns")
    if isinstance(cols, str):  # "0-7" as the dialog's field gives it
        options = {**options, "emg_columns": _parse_columns(cols) if cols.strip() else None}
        if not all(isinstance(c, int) for c in options["emg_columns"] or []):
            raise UsageError(f"EMG columns of a dataset folder are column numbers, e.g. 0-7; got {cols!r}")
    made = _make_parent(out)
    if not out.exists():
        made.append(out)  # a folder of sessions (or, for several groups, even when named .h5)
    with _undone_on_failure(made, src, out, None):
        paths = import_folder(src, out, force=force, step=step, **options)
    return ImportResult(list(paths), "folder", _summaries(paths))


def _make_parent(out: Path) -> list[Path]:
    """Create the output's folder; returns the folders created (deepest last), to remove on failure."""
    made = []
    p = out.parent
    while not p.exists():
        made.append(p)
        p = p.parent
    out.parent.mkdir(parents=True, exist_ok=True)
    return made[::-1]


@contextmanager
def _undone_on_failure(made: list[Path], src: Path, out: Path, tmp: Path | None):
    """On any exception in the block (a cancel too): remove the folders the import created
    (``made``), then raise again, as the error that names the file (:func:`_with_file_named`)."""
    try:
        yield
    except BaseException as e:
        _remove_made(made)
        better = _with_file_named(e, src, out, tmp) if isinstance(e, Exception) else None
        if better is not None:
            raise better from e
        raise


def _remove_made(made: list[Path]) -> None:
    for d in reversed(made):
        try:
            d.rmdir()  # only when empty
        except OSError:
            break


def default_output_name(src) -> str:
    """The default session name for ``src``: its stem (a folder's name), and for a myo-readings
    ``k.txt`` its folder's name before the number (``12345-1_3.h5``)."""
    src = Path(src)
    stem = src.name if src.is_dir() else src.stem
    if src.is_file() and re.fullmatch(r"\d+", stem):
        stem = f"{src.parent.name}_{stem}"
    return f"{stem}.h5"
