"""A folder of session files: find them, summarise each (without loading the data), rename, delete.

Headless, so the GUI's library table, the CLI and scripts share it. A file that cannot be read is
still listed, with its error, so one corrupt recording never hides the others.
"""

from __future__ import annotations

import datetime as _dt
import errno
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from recorder.core.types import Progress, ProgressCallback

from recorder.core.errors import UsageError

__all__ = ["SESSION_SUFFIXES", "SessionInfo", "is_session_file", "list_session_files", "summarize", "scan",
           "rename_session", "delete_session"]

#: File name endings treated as session files.
SESSION_SUFFIXES = (".h5", ".hdf5")


@dataclass(slots=True)
class SessionInfo:
    """What the library shows about one file. ``error`` is non-empty when it could not be read;
    the other content fields then keep their defaults (NaN / empty)."""

    path: Path
    size_bytes: int = 0
    modified: float = float("nan")  # file modification time, epoch seconds
    created_utc: str = ""
    duration_s: float = float("nan")
    subject: str = ""
    hand: str = ""
    device: str = ""
    notes: str = ""
    samples: int = 0
    channels: int = 0
    sample_rate_hz: float = float("nan")
    frames: int = 0
    frames_with_hand: int = 0
    labels: dict[str, int] = field(default_factory=dict)  # name -> number of segments
    label_seconds: float = 0.0  # total labelled time, s
    markers: int = 0
    gaps: int = 0
    complete: bool = False
    recording: bool = False  # a writer holds it now (recorder.session.writelock): read-only, do not edit
    repairable: bool = False  # its writer died without closing it: ``emgrec repair`` / session.repair
    error: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def n_labels(self) -> int:
        return sum(self.labels.values())

    @property
    def hand_coverage(self) -> float:
        """Fraction (0..1) of video frames with a detected hand; NaN when there is no video."""
        return self.frames_with_hand / self.frames if self.frames else float("nan")

    @property
    def date(self) -> str:
        """Recording date as 'YYYY-MM-DD HH:MM' local time (from created_utc, else the file time)."""
        try:
            d = _dt.datetime.fromisoformat(self.created_utc).astimezone()
        except ValueError:
            if math.isnan(self.modified):
                return ""
            d = _dt.datetime.fromtimestamp(self.modified)
        return d.strftime("%Y-%m-%d %H:%M")

    def label_summary(self, max_names: int = 4) -> str:
        """e.g. 'fist×3, open×2 (+1 more)'; '' when there are no labels."""
        items = sorted(self.labels.items(), key=lambda kv: (-kv[1], kv[0]))
        text = ", ".join(f"{n}×{c}" for n, c in items[:max_names])
        if len(items) > max_names:
            text += f" (+{len(items) - max_names} more)"
        return text


def is_session_file(path) -> bool:
    p = Path(path)
    return p.suffix.lower() in SESSION_SUFFIXES and not p.name.startswith(".")


def list_session_files(folder, recursive: bool = False) -> list[Path]:
    """Session files in a folder, sorted by name. Raises FileNotFoundError / NotADirectoryError."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"session folder not found: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted((p for p in it if p.is_file() and is_session_file(p)), key=lambda p: str(p).lower())


def summarize(path) -> SessionInfo:
    """Summarise one file. Never raises for a bad file: the reason goes in ``SessionInfo.error``.

    Reads only metadata, times, the label tables and one landmark column (hand presence), not the
    EMG or the JPEGs, so it stays fast for long sessions.
    """
    from recorder.session.format import SessionReader  # h5py import only when used

    path = Path(path)
    info = SessionInfo(path)
    try:
        st = path.stat()
        info.size_bytes, info.modified = st.st_size, st.st_mtime
    except OSError as e:
        info.error = f"cannot stat: {e.strerror or e}"
        return info
    try:
        with SessionReader(path) as r:
            a = r.attrs
            dev = a.get("device")
            info.created_utc = str(a.get("created_utc", ""))
            info.subject = str(a.get("subject", ""))
            info.hand = str(a.get("hand", ""))
            info.notes = str(a.get("notes", ""))
            info.device = str(dev.get("kind", "")) if isinstance(dev, dict) else ""
            info.duration_s = r.duration_s
            info.samples = r.n_samples
            info.channels = len(r.channel_names)
            info.sample_rate_hz = r.sample_rate_hz
            info.frames = r.n_frames
            info.frames_with_hand = int(r.has_hand().sum())
            for start, end, name in r.labels:
                info.labels[name] = info.labels.get(name, 0) + 1
                info.label_seconds += max(0.0, end - start)
            info.markers = len(r.markers)
            info.gaps = len(r.gaps)
            info.complete = r.complete
            from recorder.session.writelock import holder
            info.recording = holder(path) is not None
            info.repairable = r.opened_swmr and not info.recording
    except Exception as e:  # any corruption must end up in the table, not crash the scan
        info.error = str(e) if type(e).__name__ == "SessionFormatError" else f"{type(e).__name__}: {e}"
    return info


def scan(folder, *, recursive: bool = False, progress: ProgressCallback | None = None,
         cancel: threading.Event | None = None) -> list[SessionInfo]:
    """Summarise every session file of a folder, in name order.

    progress is called with ``Progress(files done, total files, file name)`` after each file; setting ``cancel`` stops early and
    returns what was summarised so far.
    """
    files = list_session_files(folder, recursive)
    out: list[SessionInfo] = []
    for k, p in enumerate(files):
        if cancel is not None and cancel.is_set():
            break
        out.append(summarize(p))
        if progress is not None:
            progress(Progress(k + 1, len(files), p.name))
    return out


def rename_session(path, new_name: str) -> Path:
    """Rename a session file within its folder; returns the new path.

    new_name: a file name without folder parts; the original suffix is added when it has none of
    :data:`SESSION_SUFFIXES`. Raises ValueError for an empty or path-like name, FileNotFoundError
    when the file is gone, FileExistsError rather than overwrite another file.
    """
    src = Path(path)
    name = str(new_name).strip()
    if not name or name in (".", "..") or "/" in name or "\\" in name or os.sep in name or "\0" in name:
        raise UsageError(f"invalid session file name {new_name!r}")
    if Path(name).suffix.lower() not in SESSION_SUFFIXES:
        name += src.suffix
    if name.startswith("."):
        raise UsageError(f"session file name must not start with a dot: {new_name!r}")
    dst = src.with_name(name)
    if not src.is_file():
        raise FileNotFoundError(f"session file not found: {src}")
    if dst == src:
        return src
    # A hard link fails atomically when the target exists (no overwrite race); fall back to a
    # checked rename on file systems without hard links.
    try:
        os.link(src, dst)
    except FileExistsError:
        raise FileExistsError(f"cannot rename {src.name}: {dst} already exists") from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if dst.exists():
            raise FileExistsError(f"cannot rename {src.name}: {dst} already exists") from None
        src.rename(dst)
        return dst
    src.unlink()
    return dst


def delete_session(path) -> None:
    """Delete a session file (permanently). Only files with a session suffix are deleted."""
    p = Path(path)
    if not is_session_file(p):
        raise UsageError(f"refusing to delete {p}: not a session file ({'/'.join(SESSION_SUFFIXES)})")
    if not p.is_file():
        raise FileNotFoundError(f"session file not found: {p}")
    p.unlink()
