"""Dataset folders: many per-recording files -> sessions, class and repetition from the file name.

``import_folder(src, out, pattern="R_{rep}_C_{class}.csv", sample_rate_hz=200)``: every file under ``src``
(a folder, searched recursively, or a glob) whose name matches ``pattern`` is one recording. Text
files are delimited numbers (a header line is skipped); ``.dat`` files are interleaved little-endian
int16 samples of ``channels`` channels. ``per="folder"`` makes one session per folder, the
recordings in name order with :data:`GAP_S` of recorded gap between them (so no training window
spans two recordings), each recording one label segment named by its ``{class}`` field (through
``label_names``); ``per="recording"`` makes one session per file. Fields of the pattern other
than ``class`` (``rep``, ``subject``, ...) are kept per recording in the ``recordings`` attribute.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import re
import uuid
from pathlib import Path

import numpy as np

from recorder.core.errors import UsageError
from recorder.imports.tables import ImportFormatError, _is_number, _line_of_row, _smallest_dtype, _write_session
from recorder.session.writelock import WriteLock

GAP_S = 1.0


def pattern_regex(pattern: str) -> re.Pattern:
    """``'R_{rep}_C_{class}.csv'`` -> a regex with one named group per field (``class`` -> ``cls``)."""
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        name = "cls" if m.group(1) == "class" else m.group(1)
        out.append(rf"(?P<{name}>[^/\\]+?)")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    try:
        return re.compile("^" + "".join(out) + "$")
    except re.error as e:
        raise UsageError(f"bad --pattern {pattern!r}: {e}") from None


def natural_key(p: Path):
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", str(p))]


def find_recordings(src, pattern: str) -> list[tuple[Path, dict]]:
    """(file, fields) for every file under ``src`` (folder or glob) whose name matches ``pattern``."""
    rx = pattern_regex(pattern)
    s = str(src)
    if any(c in s for c in "*?["):
        files = [Path(f) for f in glob.glob(s, recursive=True)]
    elif Path(s).is_dir():
        files = [p for p in Path(s).rglob("*")]
    else:
        raise FileNotFoundError(f"no such folder: {src}")
    out = []
    for f in sorted((f for f in files if f.is_file()), key=natural_key):
        m = rx.match(f.name)
        if m:
            d = m.groupdict()
            if "cls" in d:
                d["class"] = d.pop("cls")
            out.append((f, d))
    if not out:
        raise ImportFormatError(f"{src}: no file matches {pattern!r}")
    return out


def read_recording(path: Path, *, channels: int | None = None, emg_columns=None, delimiter: str = ",",
                   dat_dtype: str = "<i2") -> np.ndarray:
    """(n, C) samples of one recording file. Text: delimited numbers (header skipped), errors name the
    line; ``.dat``: interleaved binary ``dat_dtype`` samples of ``channels`` channels."""
    if path.suffix.lower() == ".dat":
        if not channels:
            raise UsageError(f"{path.name}: binary .dat files need --channels")
        raw = np.fromfile(path, dtype=np.dtype(dat_dtype))
        if raw.size == 0:
            raise ImportFormatError(f"{path.name}: empty file")
        if raw.size % channels:
            raise ImportFormatError(f"{path.name}: {raw.size} {np.dtype(dat_dtype).name} values are not a whole "
                                    f"number of {channels}-channel samples (truncated, or another channel count?)")
        return raw.reshape(-1, channels)
    import pandas as pd
    try:
        with open(path, encoding="utf-8-sig") as fh:
            first = next((ln for ln in fh if ln.strip()), None)
    except UnicodeDecodeError:
        raise ImportFormatError(f"{path.name}: not a text file (binary recordings must end in .dat)") from None
    if first is None:
        raise ImportFormatError(f"{path.name}: no data rows")
    fields = next(csv.reader([first], delimiter=delimiter))
    header = not all(_is_number(f.strip()) for f in fields)
    try:
        df = pd.read_csv(path, sep=delimiter, header=None, skiprows=1 if header else 0, engine="c",
                         na_filter=False, skipinitialspace=True, names=list(range(len(fields) + 1)))
    except pd.errors.ParserError as e:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        raise ImportFormatError(f"{path.name} line {m.group(2)}: expected {len(fields)} fields, got {m.group(3)}"
                                if m else f"{path.name}: {e}") from None
    cols = list(range(len(fields))) if emg_columns is None else list(emg_columns)
    if any(not 0 <= c < len(fields) for c in cols):
        raise ImportFormatError(f"{path.name}: EMG columns {cols} do not exist ({len(fields)} columns)")
    spare = df.iloc[:, -1].to_numpy()
    bad_w = np.flatnonzero(spare != "") if spare.dtype == object else np.arange(len(df))
    if bad_w.size:
        ln, text = _line_of_row(path, int(bad_w[0]), header)
        raise ImportFormatError(f"{path.name} line {ln}: expected {len(fields)} fields, got "
                                f"{len(next(csv.reader([text], delimiter=delimiter)))}")
    x = np.stack([pd.to_numeric(df.iloc[:, c], errors="coerce").to_numpy(np.float64) for c in cols], axis=1)
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        ln, text = _line_of_row(path, int(bad[0]), header)
        raw = next(csv.reader([text], delimiter=delimiter))
        if len(raw) != len(fields):
            raise ImportFormatError(f"{path.name} line {ln}: expected {len(fields)} fields, got {len(raw)}")
        c = next(c for c in cols if not np.isfinite(x[bad[0], cols.index(c)]))
        raise ImportFormatError(f"{path.name} line {ln}: field {c + 1} is not a finite number: {raw[c].strip()!r}")
    if not len(x):
        raise ImportFormatError(f"{path.name}: no data rows")
    return x


def import_folder(src, out, *, pattern: str, sample_rate_hz: float, per: str = "folder", channels: int | None = None,
                  emg_columns=None, label_names: dict | None = None, delimiter: str = ",", dat_dtype: str = "<i2",
                  units: str = "counts", scale_to_uV: float = float("nan"), subject: str = "", notes: str = "",
                  force: bool = False, step=None) -> list[Path]:
    """Import a dataset folder. ``out``: the session file (one session) or a folder (several: one per
    source folder or recording, named after it). Returns the written paths.

    All or nothing: every session is written to a hidden temporary file next to its target, and
    the targets (their write locks held throughout) are replaced only once all are written; a
    failure leaves none of them. ``step(fraction, message)``, when given, is called before each
    session and before the renames; it may raise (a cancel) to stop with nothing written."""
    if not (np.isfinite(sample_rate_hz) and sample_rate_hz > 0):
        raise UsageError(f"rate must be a positive finite number of Hz, got {sample_rate_hz}")
    if per not in ("folder", "recording"):
        raise UsageError(f"per must be 'folder' or 'recording', got {per!r}")
    recs = find_recordings(src, pattern)
    groups: dict[str, list] = {}
    for f, d in recs:
        key = str(f.parent) if per == "folder" else str(f)
        groups.setdefault(key, []).append((f, d))
    out = Path(out)
    many = len(groups) > 1 or out.suffix.lower() not in (".h5", ".hdf5")
    targets = {}
    for key in groups:
        name = (Path(key).name if per == "folder" else Path(key).stem) + ".h5"
        targets[key] = out / name if many else out
    clash = [p for p in targets.values() if p.exists()]
    if clash and not force:
        raise FileExistsError(f"{clash[0]} exists (use --force to overwrite)")
    if len(set(targets.values())) != len(targets):
        raise UsageError(f"two recordings would write the same file under {out}; use --per folder")
    names = {str(k): v for k, v in (label_names or {}).items()}
    staged: dict[str, Path] = {}
    locks: list[WriteLock] = []
    try:
        for p in targets.values():
            p.parent.mkdir(parents=True, exist_ok=True)
            locks.append(WriteLock(p, "an import").acquire("import into it"))
        for k, (key, items) in enumerate(groups.items()):
            if step is not None:
                step(k / len(groups), f"importing {Path(key).name}")
            tmp = targets[key].with_name(f".{targets[key].name}.{uuid.uuid4().hex[:8]}.importing")
            staged[key] = tmp
            _import_group(tmp, key, items, src=src, sample_rate_hz=sample_rate_hz, channels=channels, emg_columns=emg_columns,
                          delimiter=delimiter, dat_dtype=dat_dtype, names=names, pattern=pattern, per=per,
                          units=units, scale_to_uV=scale_to_uV, subject=subject, notes=notes)
        if step is not None:
            step(1.0, f"writing {len(staged)} session(s)")
        for key, tmp in staged.items():
            os.replace(tmp, targets[key])
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        for lock in locks:
            lock.release()
    return [targets[key] for key in groups]


def _import_group(dst: Path, key: str, items, *, src, sample_rate_hz, channels, emg_columns, delimiter, dat_dtype, names,
                  pattern, per, units, scale_to_uV, subject, notes) -> Path:
    """Write the recordings ``items`` [(file, fields)] of one group as one session ``dst``."""
    period = 1.0 / sample_rate_hz
    xs, ts, labels, gaps, info = [], [], [], [], []
    t_next = 0.0
    for f, d in items:
        x = read_recording(f, channels=channels, emg_columns=emg_columns, delimiter=delimiter, dat_dtype=dat_dtype)
        if xs and x.shape[1] != xs[0].shape[1]:
            raise ImportFormatError(f"{f.name}: {x.shape[1]} channels, but {items[0][0].name} has {xs[0].shape[1]}")
        if xs:
            gaps.append((t_next, t_next + GAP_S))
            t_next += GAP_S
        t = t_next + np.arange(len(x)) * period
        if "class" in d:
            cls = d["class"]
            key_c = str(int(cls)) if cls.isdigit() else cls
            labels.append((float(t[0]), float(t[-1] + period), names.get(key_c, cls)))
        info.append({"file": f.name, **d, "start_s": float(t[0]), "samples": int(len(x))})
        xs.append(x)
        ts.append(t)
        t_next = float(t[-1] + period)
    x = np.concatenate(xs)
    dt = np.dtype(_smallest_dtype(x))
    meta = {"subject": subject, "notes": notes, "hand": "",
            "device": {"kind": "import", "source": str(src)},
            "settings": {"importer": "folder", "pattern": pattern, "per": per, "file_gap_s": GAP_S,
                         "label_names": names},
            "source_file": Path(key).name, "recordings": json.dumps(info)}
    nch = x.shape[1]
    return _write_session(dst, x=x.astype(dt), t=np.concatenate(ts), sample_rate_hz=float(sample_rate_hz),
                          channel_names=[f"ch{i + 1}" for i in range(nch)], units=units,
                          scale_to_uV=scale_to_uV, dtype=dt, labels=labels, gaps=gaps, metadata=meta)
