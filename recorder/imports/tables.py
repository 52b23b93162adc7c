"""Import EMG from CSV/text files into normal session files (EMG only, no video).

:func:`import_csv` is the general importer; :func:`import_myo_readings` and :func:`import_neurotron`
are presets for the two public Myo datasets in ``../shared/data/emg``. The output is written to a
temporary file in the destination folder and renamed at the end, so a failed import leaves nothing.
Errors name the file and line: ``bad.csv line 17: expected 9 fields, got 4``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import os
import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from recorder.core.errors import EmgrecError, UsageError
from recorder.session.format import SessionWriter
from recorder.core.types import EmgChunk

MYO_READINGS_LABELS = {0: "rest", 1: "wrist flexion", 2: "wrist extension", 3: "radial deviation",
                       4: "ulnar deviation", 5: "pronation", 6: "supination", 7: "fist"}
#: Silence recorded between concatenated files of one myo-readings session (seconds).
FILE_GAP_S = 1.0


class ImportFormatError(EmgrecError, ValueError):
    """The source file is not in the expected format; the message names file and line."""


class _Table:
    """A parsed CSV: (T, K) float64 values, column names, the line number of every row."""

    def __init__(self, path: Path, values: np.ndarray, names: list[str] | None, lines: np.ndarray):
        self.path, self.values, self.names, self.lines = path, values, names, lines

    def column(self, spec, what: str) -> int:
        """Index of a column given by number (0-based) or header name."""
        k = self.values.shape[1]
        if isinstance(spec, (int, np.integer)) or (isinstance(spec, str) and spec.strip().lstrip("-").isdigit()):
            i = int(spec)
            if not -k <= i < k:
                raise ImportFormatError(f"{self.path.name}: {what} column {i} does not exist ({k} columns)")
            return i % k
        if self.names is None:
            raise ImportFormatError(f"{self.path.name}: {what} column {spec!r} given by name but the file has no header")
        if spec not in self.names:
            raise ImportFormatError(f"{self.path.name}: no {what} column {spec!r}; columns are {', '.join(self.names)}")
        return self.names.index(spec)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _read_table(path: Path, delimiter: str, has_header: bool | None) -> _Table:
    rows: list[list[float]] = []
    lines: list[int] = []
    names = None
    width = None
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise ImportFormatError(f"cannot read {path}: {e.strerror or e}") from e
    with fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            for fields in reader:
                line = reader.line_num
                fields = [f.strip() for f in fields]
                if not fields or all(f == "" for f in fields):
                    continue  # blank lines (e.g. a trailing newline) carry nothing
                if width is None:
                    header = has_header if has_header is not None else not all(_is_number(f) for f in fields)
                    width = len(fields)
                    if header:
                        names = fields
                        continue
                if len(fields) != width:
                    raise ImportFormatError(f"{path.name} line {line}: expected {width} fields, got {len(fields)}")
                try:
                    rows.append([float(f) for f in fields])
                except ValueError:
                    bad = next(i for i, f in enumerate(fields) if not _is_number(f))
                    raise ImportFormatError(f"{path.name} line {line}: field {bad + 1} is not a number: "
                                            f"{fields[bad]!r}") from None
                lines.append(line)
        except csv.Error as e:
            raise ImportFormatError(f"{path.name} line {reader.line_num}: {e}") from None
        except UnicodeDecodeError as e:
            raise ImportFormatError(f"{path.name}: not a text file ({e.reason})") from None
    if not rows:
        raise ImportFormatError(f"{path.name}: no data rows")
    return _Table(path, np.asarray(rows, dtype=np.float64), names, np.asarray(lines))


def _parse_columns(spec) -> list:
    """``"0-7"``, ``"ch1,ch2"``, ``[0, 1]`` -> list of column numbers or names."""
    if isinstance(spec, str):
        out: list = []
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            m = re.fullmatch(r"(\d+)-(\d+)", part)
            if m:
                out.extend(range(int(m.group(1)), int(m.group(2)) + 1))
            else:
                out.append(int(part) if part.isdigit() else part)
        return out
    return list(spec)


def _smallest_dtype(x: np.ndarray):
    """int8/int16/int32 when every value is an integer that fits, else float32."""
    if np.all(np.isfinite(x)) and np.all(x == np.round(x)):
        for dt in (np.int8, np.int16, np.int32):
            info = np.iinfo(dt)
            if x.min(initial=0) >= info.min and x.max(initial=0) <= info.max:
                return dt
    return np.float32


def _label_segments(t: np.ndarray, codes: np.ndarray, period: float, names: dict) -> list[tuple[float, float, str]]:
    """Runs of equal label codes -> (start_s, end_s, name), half-open: [first sample, next run's first)."""
    if len(codes) == 0:
        return []
    # A run also ends at a gap (> 3 periods without samples, e.g. a file boundary): no segment spans one.
    gap_after = np.diff(t) > 3 * period
    change = np.flatnonzero((np.diff(codes) != 0) | gap_after) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [len(codes)]))
    out = []
    for a, b in zip(starts, ends):
        c = codes[a]
        key = int(c) if float(c).is_integer() else float(c)
        # End at the next run's first sample (exactly, no rounding), or one period after the last
        # sample when the run is the last one or a gap follows it.
        end = t[b] if b < len(t) and not gap_after[b - 1] else t[b - 1] + period
        out.append((float(t[a]), float(end), str(names.get(key, key))))
    return out


def _find_gaps(t: np.ndarray, period: float, factor: float = 3.0) -> list[tuple[float, float]]:
    """Intervals where consecutive timestamps are more than ``factor`` periods apart."""
    d = np.diff(t)
    k = np.flatnonzero(d > factor * period)
    return [(float(t[i] + period), float(t[i + 1])) for i in k]


def _write_session(dst, *, x: np.ndarray, t: np.ndarray, sample_rate_hz: float, channel_names: Sequence[str], units: str,
                   scale_to_uV: float, dtype, labels, gaps, metadata: dict, markers=(), poses=None,
                   finish=None) -> Path:
    """Write through the normal SessionWriter (t0 = 0: the given times are already session seconds)
    into a temporary file in the destination folder, renamed when complete. poses: optional
    ((F,) times, (F, 21, 3) world mm) written as frames without images with their landmarks.
    ``finish(tmp_path)`` adds more to the closed file before the rename (imported pose frames)."""
    from recorder.session.writelock import WriteLock

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    # The destination's lock for the whole import: never renamed over a session being recorded.
    lock = WriteLock(dst, "an import").acquire("import into it")
    # Not mkstemp: its 0600 mode would stick to the session; the writer creates it (umask applies).
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}-{id(lock):x}.part")
    try:
        w = SessionWriter(tmp, sample_rate_hz=sample_rate_hz, channel_names=channel_names, units=units,
                          scale_to_uV=scale_to_uV, emg_dtype=dtype, t0=0.0, metadata=metadata,
                          video=poses is not None, store_images=False, flush_interval_s=1.0)
        w.start()
        step = 65536
        for a in range(0, len(t), step):
            w.add_emg(EmgChunk(x[a:a + step], t[a:a + step], a, float(t[min(len(t), a + step) - 1])))
        for g0, g1 in gaps:
            w.add_gap(g0, g1)
        for s, e, name in labels:
            w.add_label(s, e, name)
        for tm, text in markers:
            w.add_marker(tm, text)
        if poses is not None:
            _add_poses(w, *poses)
        w.close()
        if w.error is not None:
            raise OSError(f"writing {dst} failed: {w.error}") from w.error
        st = w.stats()
        if st["samples"] != len(t) or st["rejected"]:
            raise RuntimeError(f"writing {dst}: {st['samples']} of {len(t)} samples written")
        if finish is not None:
            finish(Path(tmp))
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        lock.release()
    return dst


def _add_poses(w: SessionWriter, t: np.ndarray, world: np.ndarray) -> None:
    """Frames without a picture (no image stored: the writer has store_images=False) carrying
    landmarks: world (F, 21, 3) mm, NaN rows for no hand; image landmarks are unknown (NaN)."""
    from recorder.core.types import Frame, Landmarks
    jpeg = b""
    blank = np.zeros((1, 1, 3), np.uint8)
    nan_img = np.full((21, 3), np.nan, np.float32)
    for i, (ti, wi) in enumerate(zip(t, world)):
        w.add_frame(Frame(image=blank, t=float(ti), index=i), jpeg=jpeg, block=True)
        if np.isfinite(wi).all():
            w.add_landmarks(Landmarks(image=nan_img, world_mm=wi.astype(np.float32), score=1.0, handedness="",
                                      t=float(ti), frame_index=i))
        else:
            w.add_landmarks(Landmarks.empty(float(ti), i))


def _line_of_row(path: Path, row: int, header: bool) -> tuple[int, str]:
    """(1-based line, its text) of data row ``row`` (0-based, blank lines not counted), by scanning
    the file: only on the error path, so the fast reader does not have to keep line numbers."""
    n = -1 - int(header)
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for ln, text in enumerate(fh, 1):
            if text.strip():
                n += 1
                if n == row:
                    return ln, text.rstrip("\r\n")
    return row + 1 + int(header), ""


def _first_line(path: Path) -> tuple[str, int] | None:
    """(text, 1-based line number) of the first non-blank line (None for an empty file)."""
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise ImportFormatError(f"cannot read {path}: {e.strerror or e}") from e
    with fh:
        try:
            for k, ln in enumerate(fh, 1):
                if ln.strip():
                    return ln, k
        except UnicodeDecodeError as e:
            raise ImportFormatError(f"{path.name}: not a text file ({e.reason})") from None
    return None


class _Widen(Exception):
    """A later chunk does not fit the raw dtype picked from the first one: start again, wider."""

    def __init__(self, dtype):
        self.dtype = dtype


def _fits(x: np.ndarray, dt: np.dtype, integral: bool = False) -> np.ndarray:
    """(n,) bool: rows of x that ``dt`` holds exactly (``integral``: x is known to hold integers)."""
    if dt.kind not in "iu":
        return np.ones(len(x), bool)
    info = np.iinfo(dt)
    if x.min(initial=0) >= info.min and x.max(initial=0) <= info.max and (integral or np.array_equal(x, np.round(x))):
        return np.ones(len(x), bool)
    return ~((x < info.min).any(axis=1) | (x > info.max).any(axis=1) | (x != np.round(x)).any(axis=1))


def _wider(x: np.ndarray, dt: np.dtype) -> np.dtype:
    """The next integer dtype after ``dt`` that holds x, else float32."""
    if np.all(x == np.round(x)):
        for cand in (np.int8, np.int16, np.int32):
            c = np.dtype(cand)
            if c.itemsize > dt.itemsize and _fits(x, c).all():
                return c
    return np.dtype(np.float32)


def import_csv(src, dst, *, sample_rate_hz: float | None = None, emg_columns, time_column=None, time_unit: str = "s",
               label_column=None, label_names: dict | None = None, delimiter: str = ",",
               has_header: bool | None = None, units: str = "counts", scale_to_uV: float = float("nan"),
               subject: str = "", notes: str = "", dtype=None, device: dict | None = None,
               extra_attrs: dict | None = None, chunk_rows: int = 1 << 18) -> Path:
    """Import one delimited text file as a session (EMG only). Returns ``dst``.

    emg_columns: column numbers (0-based) or header names, or a string like ``"0-7"`` / ``"ch1,ch2"``.
    time_column: column of sample times (``time_unit`` "s", "ms", "us" or "ns"); times are shifted so
        the first sample is at 0 s (the original first time is kept in attr ``source_start_time``).
        Without it, samples are evenly spaced at ``sample_rate_hz``.
    sample_rate_hz: nominal rate; required without a time column, else measured from the times when None
        (recorded gaps left out).
    label_column: per-sample class codes (numbers, named by ``label_names``) or text labels; runs
        of one label become label segments, split at gaps.
    has_header: None to detect (first row not all numbers). dtype: raw dtype, None for the smallest fit.

    The file is read in chunks of ``chunk_rows`` by pandas' C parser and streamed to the writer, so
    memory stays bounded (about 16 bytes per row for times and labels, plus one chunk). Non-finite
    EMG or times, a time going backwards, a value that does not fit ``dtype`` and a row with the
    wrong number of fields are errors naming the file and line; nothing is left behind.
    """
    if sample_rate_hz is not None and not (np.isfinite(sample_rate_hz) and sample_rate_hz > 0):
        raise UsageError(f"{Path(src).name}: rate must be a positive finite number of Hz, got {sample_rate_hz}")
    want = np.dtype(dtype) if dtype is not None else None
    while True:
        try:
            return _import_csv_once(Path(src), Path(dst), sample_rate_hz, emg_columns, time_column, time_unit, label_column,
                                    label_names or {}, delimiter, has_header, units, scale_to_uV, subject, notes,
                                    want, dtype is None, device, extra_attrs, chunk_rows)
        except _Widen as w:
            want = w.dtype


def _import_csv_once(src, dst, sample_rate_hz, emg_columns, time_column, time_unit, label_column, label_names, delimiter,
                     has_header, units, scale_to_uV, subject, notes, want, auto_dtype, device, extra_attrs,
                     chunk_rows) -> Path:
    import pandas as pd
    import h5py

    from recorder.session.format import _append

    scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}.get(time_unit)
    if scale is None:
        raise UsageError(f"time_unit must be s, ms, us or ns, got {time_unit!r}")
    if time_column is None and sample_rate_hz is None:
        raise ImportFormatError(f"{src.name}: sample_rate_hz is required when there is no time column")
    first = _first_line(src)
    if first is None:
        raise ImportFormatError(f"{src.name}: no data rows")
    first, first_ln = first
    fields = [f.strip() for f in next(csv.reader([first], delimiter=delimiter))]
    header = has_header if has_header is not None else not all(_is_number(f) for f in fields)
    names = fields if header else None
    probe = _Table(src, np.zeros((0, len(fields))), names, np.zeros(0))
    cols = [probe.column(c, "EMG") for c in _parse_columns(emg_columns)]
    if not cols:
        raise ImportFormatError(f"{src.name}: no EMG columns given")
    tcol = probe.column(time_column, "time") if time_column is not None else None
    lcol = probe.column(label_column, "label") if label_column is not None else None
    ch_names = [names[c] for c in cols] if names else [f"ch{i + 1}" for i in range(len(cols))]
    line = lambda row: _line_of_row(src, row, header)[0]  # noqa: E731

    def numbers(df, c, row0, what):
        s = df.iloc[:, c]
        v = (s if s.dtype.kind in "fiu" else pd.to_numeric(s, errors="coerce")).to_numpy(np.float64)
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            ln, text = _line_of_row(src, row0 + int(bad[0]), header)
            raw = [f.strip() for f in next(csv.reader([text], delimiter=delimiter))] if text else []
            if len(raw) != len(fields):
                raise ImportFormatError(f"{src.name} line {ln}: expected {len(fields)} fields, got {len(raw)}")
            kind = "is not a number" if not _is_number(raw[c]) else "is not a finite number"
            raise ImportFormatError(f"{src.name} line {ln}: field {c + 1} {kind}: {raw[c]!r} ({what} column)")
        return v

    try:
        # One spare column: pandas' chunked C reader silently truncates a too-long row that starts a
        # chunk; with a spare slot such a row shows there (or raises), and is reported.
        reader = pd.read_csv(src, sep=delimiter, header=None, names=list(range(len(fields) + 1)),
                             skiprows=first_ln if header else 0, chunksize=chunk_rows, engine="c",
                             skip_blank_lines=True, encoding="utf-8-sig", skipinitialspace=True,
                             na_filter=False, low_memory=False)  # no NA scan: 25 % faster; '' is checked below
    except (pd.errors.EmptyDataError, UnicodeDecodeError):
        raise ImportFormatError(f"{src.name}: no data rows") from None
    from recorder.session.writelock import WriteLock

    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        # As _write_session: the destination's lock for the whole import, a temp file the writer creates.
        lock = WriteLock(dst, "an import").acquire("import into it")
    except BaseException:
        reader.close()  # pandas keeps the source open until its reader is closed or exhausted
        raise
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}-{id(lock):x}.part")
    w = None
    tl = _Timeline(sample_rate_hz if tcol is not None else sample_rate_hz)
    label_index: dict = {}
    row0, t_first, t_last = 0, None, None
    meta = {"subject": subject, "notes": notes, "hand": "",
            "device": device or {"kind": "import", "source": str(src)},
            "settings": {"importer": "csv", "emg_columns": cols, "time_column": time_column,
                         "label_column": label_column, "time_unit": time_unit},
            "source_file": src.name}
    if extra_attrs:
        meta.update(extra_attrs)
    try:
        try:
            for df in reader:
                n = len(df)
                spare = df.iloc[:, -1].to_numpy()
                extra = np.flatnonzero(spare != "") if spare.dtype == object else np.arange(n)
                if extra.size:
                    ln, text = _line_of_row(src, row0 + int(extra[0]), header)
                    got = len(next(csv.reader([text], delimiter=delimiter))) if text else "more"
                    raise ImportFormatError(f"{src.name} line {ln}: expected {len(fields)} fields, got {got}")
                if all(df.dtypes.iloc[c].kind in "iuf" for c in cols):  # the common case: one conversion
                    x = df.iloc[:, cols].to_numpy(np.float64)
                    if not np.isfinite(x).all():
                        for c in cols:
                            numbers(df, c, row0, "EMG")  # raises naming the line
                else:
                    x = np.stack([numbers(df, c, row0, "EMG") for c in cols], axis=1)
                integral = all(df.dtypes.iloc[c].kind in "iu" for c in cols)
                if tcol is not None:
                    traw = numbers(df, tcol, row0, "time")
                    if t_first is None:
                        t_first = float(traw[0])
                    prev = np.concatenate(([t_last], traw[:-1])) if t_last is not None else traw[:1]
                    back = np.flatnonzero(traw < prev) if t_last is not None else np.flatnonzero(np.diff(traw) < 0) + 1
                    if back.size:
                        i = int(back[0])
                        before = t_last if (t_last is not None and i == 0) else traw[i - 1]
                        raise ImportFormatError(f"{src.name} line {line(row0 + i)}: time goes backwards "
                                                f"({before!r} then {traw[i]!r})")
                    t_last = float(traw[-1])
                    t = (traw - t_first) * scale
                else:
                    t = (row0 + np.arange(n)) / float(sample_rate_hz)
                if want is None:
                    want = np.dtype(_smallest_dtype(x))
                ok = _fits(x, want, integral)
                if not ok.all():
                    if auto_dtype:
                        raise _Widen(_wider(x, want))
                    raise ImportFormatError(f"{src.name} line {line(row0 + int(np.flatnonzero(~ok)[0]))}: "
                                            f"value does not fit {want.name}")
                if lcol is not None:
                    lab = df.iloc[:, lcol]
                    keys = lab.astype(str).str.strip().to_numpy() if lab.dtype.kind not in "fiu" else lab.to_numpy()
                    uniq, inv = np.unique(keys, return_inverse=True)
                    m = np.array([label_index.setdefault(_label_key(k), len(label_index)) for k in uniq], np.int32)
                    codes = m[inv]
                else:
                    codes = None
                if w is None:
                    rate0 = sample_rate_hz or (max(n - 1, 1) / (t[-1] - t[0]) if n > 1 and t[-1] > t[0] else 1.0)
                    w = SessionWriter(tmp, sample_rate_hz=rate0, channel_names=ch_names, units=units,
                                      scale_to_uV=scale_to_uV, emg_dtype=want, t0=0.0, metadata=meta, video=False,
                                      flush_interval_s=1.0)
                    w.start()
                w.add_emg(EmgChunk(x.astype(want), t, row0, float(t[-1])))
                if tcol is not None or codes is not None:
                    tl.add(t, codes)
                row0 += n
                while w.stats()["queue"] > 4 and w.error is None:  # bounded memory: let the writer catch up
                    time.sleep(0.005)
        except pd.errors.ParserError as e:
            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
            if m:
                raise ImportFormatError(f"{src.name} line {m.group(2)}: expected {m.group(1)} fields, "
                                        f"got {m.group(3)}") from None
            raise ImportFormatError(f"{src.name}: {e}") from None
        except UnicodeDecodeError as e:
            raise ImportFormatError(f"{src.name}: not a text file ({e.reason})") from None
        if w is None:
            raise ImportFormatError(f"{src.name}: no data rows")
        w.close()
        if w.error is not None:
            raise OSError(f"writing {dst} failed: {w.error}") from w.error
        st = w.stats()
        if st["samples"] != row0 or st["rejected"]:
            raise RuntimeError(f"writing {dst}: {st['samples']} of {row0} samples written")
        if sample_rate_hz is None:
            sample_rate_hz = tl.measured_rate()
            if sample_rate_hz is None:
                raise ImportFormatError(f"{src.name}: cannot measure the rate from the time column; pass sample_rate_hz")
        period = 1.0 / float(sample_rate_hz)
        gaps = tl.gap_list(period) if tcol is not None else []
        labels = []
        if lcol is not None:
            inv_names = {v: k for k, v in label_index.items()}
            names_of = {i: str(label_names.get(k, k)) for i, k in inv_names.items()}
            labels = tl.segments(period, names_of)
        with h5py.File(tmp, "r+") as f:
            from recorder.session.format import set_root_attrs
            f["emg/data"].attrs["sample_rate_hz"] = float(sample_rate_hz)
            if tcol is not None:
                set_root_attrs(f, {"source_start_time": t_first, "source_time_unit": time_unit})
            if gaps:
                _append(f["emg/gaps"], np.asarray(gaps, "<f8").reshape(-1, 2))
            if labels:
                from recorder.session.format import LABEL_DTYPE, LABEL_NAME_BYTES, _encode_text
                _append(f["labels"], np.array([(a, b, _encode_text(nm, LABEL_NAME_BYTES, "label name", strict=False))
                                               for a, b, nm in labels], dtype=LABEL_DTYPE))
        os.replace(tmp, dst)
    except BaseException:
        if w is not None:
            w.close()
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        reader.close()  # an error before the last chunk leaves the source open otherwise
        lock.release()
    return dst


class _Timeline:
    """Gaps, the measured rate and label runs of a stream of (t, codes) chunks, without keeping t.

    A gap is an interval over 3 periods (``sample_rate_hz`` given) or over 3 x the median interval of the
    first chunk (rate measured); the measured rate leaves gaps out. Label runs end at a code change
    (at the next run's first sample) or at a gap (one period after their last sample)."""

    def __init__(self, sample_rate_hz: float | None):
        self.thr = 3.0 / sample_rate_hz if sample_rate_hz else None
        self.prev_t = self.prev_c = None
        self.n_ok, self.d_ok = 0, 0.0
        self.gaps: list[tuple[float, float]] = []
        self.runs: list[tuple[int, float, float | None, float]] = []  # code, start, end (None: gap), last t
        self.cur: list | None = None  # [code, start]

    def add(self, t: np.ndarray, codes: np.ndarray | None) -> None:
        tt = t if self.prev_t is None else np.concatenate(([self.prev_t], t))
        d = np.diff(tt)
        if self.thr is None and len(d):
            self.thr = 3.0 * float(np.median(d))
        gap = d > (self.thr if self.thr is not None else np.inf)
        self.n_ok += int((~gap).sum())
        self.d_ok += float(d[~gap].sum())
        self.gaps += [(float(tt[i]), float(tt[i + 1])) for i in np.flatnonzero(gap)]
        if codes is not None:
            cc = codes if self.prev_c is None else np.concatenate(([self.prev_c], codes))
            if self.cur is None:
                self.cur = [int(cc[0]), float(tt[0])]
            for i in np.flatnonzero((cc[1:] != cc[:-1]) | gap) + 1:
                self.runs.append((self.cur[0], self.cur[1], None if gap[i - 1] else float(tt[i]), float(tt[i - 1])))
                self.cur = [int(cc[i]), float(tt[i])]
            self.prev_c = cc[-1]
        self.prev_t = float(tt[-1])

    def measured_rate(self) -> float | None:
        return self.n_ok / self.d_ok if self.n_ok and self.d_ok > 0 else None

    def gap_list(self, period: float) -> list[tuple[float, float]]:
        return [(a + period, b) for a, b in self.gaps]

    def segments(self, period: float, names: dict) -> list[tuple[float, float, str]]:
        runs = list(self.runs)
        if self.cur is not None:
            runs.append((self.cur[0], self.cur[1], None, self.prev_t))
        return [(s, e if e is not None else last + period, str(names.get(c, c))) for c, s, e, last in runs]


def _label_key(k):
    """A label value as a dict key: integral numbers as int (codes named by label_names), else text."""
    if isinstance(k, (float, np.floating, int, np.integer)):
        return int(k) if float(k).is_integer() else float(k)
    s = str(k)
    try:
        v = float(s)
        return int(v) if v.is_integer() else v
    except ValueError:
        return s




def _myo_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise FileNotFoundError(f"no such file or folder: {src}")
    files = sorted((p for p in src.iterdir() if re.fullmatch(r"\d+\.txt", p.name)), key=lambda p: int(p.stem))
    if not files:
        raise ImportFormatError(f"{src}: no 0.txt .. 7.txt files (myo-readings layout)")
    return files


def import_myo_readings(src, dst, *, subject: str = "", notes: str = "") -> Path:
    """Import aljazfrancic/myo-readings-dataset: lines ``e1,...,e8,label`` (int8, 200 Hz nominal, no times).

    ``src`` is one ``k.txt`` or a session folder of ``0.txt .. 7.txt``; a folder becomes one session,
    the files concatenated in numeric order with :data:`FILE_GAP_S` of recorded gap between them.
    Labels: 0 rest, 1 wrist flexion, 2 extension, 3 radial deviation, 4 ulnar deviation, 5 pronation,
    6 supination, 7 fist; each run of one label is a label segment.
    """
    src = Path(src)
    rate = 200.0
    period = 1.0 / rate
    xs, ts, labels, gaps, sources = [], [], [], [], []
    t_next = 0.0
    for path in _myo_files(src):
        tab = _read_table(path, ",", False)
        if tab.values.shape[1] != 9:
            raise ImportFormatError(f"{path.name} line {tab.lines[0]}: expected 9 fields (e1..e8,label), "
                                    f"got {tab.values.shape[1]}")
        x = tab.values[:, :8]
        bad = np.flatnonzero(((x < -128) | (x > 127) | (x != np.round(x))).any(axis=1))
        if bad.size:
            raise ImportFormatError(f"{path.name} line {tab.lines[bad[0]]}: EMG values must be int8 (-128..127)")
        if ts:
            gaps.append((t_next, t_next + FILE_GAP_S))
            t_next += FILE_GAP_S
        t = t_next + np.arange(len(x)) / rate
        labels += _label_segments(t, tab.values[:, 8], period, MYO_READINGS_LABELS)
        xs.append(x.astype(np.int8))
        ts.append(t)
        sources.append(path.name)
        t_next = t[-1] + period
    x = np.concatenate(xs)
    t = np.concatenate(ts)
    meta = {"subject": subject or (src.name if src.is_dir() else src.parent.name), "notes": notes,
            "hand": "right" if "right" in str(src.resolve()) else "left" if "left" in str(src.resolve()) else "",
            "device": {"kind": "myo", "mode": "raw", "sample_rate_hz": rate, "source": "myo-readings-dataset"},
            "settings": {"importer": "myo-readings", "files": sources, "file_gap_s": FILE_GAP_S,
                         "label_names": MYO_READINGS_LABELS},
            "source_file": str(src.name)}
    return _write_session(dst, x=x, t=t, sample_rate_hz=rate, channel_names=[f"emg{i + 1}" for i in range(8)],
                          units="counts", scale_to_uV=float("nan"), dtype=np.int8, labels=labels, gaps=gaps,
                          metadata=meta)


def import_neurotron(src, dst, *, subject: str = "", notes: str = "") -> Path:
    """Import a Neurotron CSV (Myo 50 Hz smoothed mode, unsigned amplitudes, Unix-second timestamps).

    Both layouts are recognised: a header ``ch1..ch8,ts`` (time last) and header-less rows with the
    time first. Times become session seconds from the first sample; the original start is kept in the
    attributes ``source_start_time`` (Unix seconds) and ``recorded_utc``.
    """
    src = Path(src)
    tab = _read_table(src, ",", None)
    k = tab.values.shape[1]
    if k != 9:
        raise ImportFormatError(f"{src.name} line {tab.lines[0]}: expected 9 fields (8 channels and a time), got {k}")
    if tab.names is not None:
        lower = [n.lower() for n in tab.names]
        tcol = next((i for i, n in enumerate(lower) if n in ("ts", "t", "time", "timestamp")), None)
        if tcol is None:
            raise ImportFormatError(f"{src.name}: no time column (ts/time/timestamp) in header {tab.names}")
    else:
        first = tab.values[0]
        big = np.flatnonzero(first > 1e8)  # Unix seconds stand out against 0..~2000 amplitudes
        if big.size != 1:
            raise ImportFormatError(f"{src.name} line {tab.lines[0]}: cannot tell which column is the Unix time")
        tcol = int(big[0])
    emg = [i for i in range(9) if i != tcol]
    start = float(tab.values[0, tcol])
    recorded = _dt.datetime.fromtimestamp(start, _dt.timezone.utc).isoformat(timespec="milliseconds")
    return import_csv(src, dst, sample_rate_hz=50.0, emg_columns=emg, time_column=tcol, time_unit="s",
                      has_header=tab.names is not None, units="counts", scale_to_uV=float("nan"),
                      subject=subject, notes=notes, dtype=np.uint16,
                      device={"kind": "myo", "mode": "emg50", "sample_rate_hz": 50.0, "source": "neurotron"},
                      extra_attrs={"recorded_utc": recorded, "source_clock": "unix seconds"})


def detect_format(src) -> str:
    """Guess the layout of ``src``: "myo-readings" (a folder of 0.txt..7.txt, or a k.txt of 9 integer
    fields), "neurotron" (9 fields, 8 channels and a Unix-second time) or "csv" (anything else)."""
    src = Path(src)
    if src.is_dir():
        _myo_files(src)  # raises naming the folder when it is not that layout
        return "myo-readings"
    if not src.is_file():
        raise FileNotFoundError(f"no such file or folder: {src}")
    try:
        with open(src, encoding="utf-8-sig") as fh:
            head = [ln.strip() for _, ln in zip(range(50), fh) if ln.strip()][:2]
    except UnicodeDecodeError:
        raise ImportFormatError(f"{src.name}: not a text file (binary .dat files: --format csv is for text)") from None
    if not head:
        raise ImportFormatError(f"{src.name}: empty file")
    fields = [f.strip() for f in head[0].split(",")]
    header = not all(_is_number(f) for f in fields)
    row = [f.strip() for f in head[-1].split(",")]
    if len(fields) == 9:
        if header and {n.lower() for n in fields} & {"ts", "timestamp"} and any(n.lower().startswith("ch") for n in fields):
            return "neurotron"
        if not header and all(_is_number(f) for f in row):
            v = [float(f) for f in row]
            if sum(a > 1e8 for a in v) == 1:
                return "neurotron"
            if re.fullmatch(r"\d+\.txt", src.name) and all(float(a).is_integer() and -128 <= a <= 127 for a in v[:8]):
                return "myo-readings"
    return "csv"


TIME_NAMES = ("t", "ts", "time", "timestamp", "time_s", "time_ms", "times", "seconds", "datetime")
LABEL_NAMES = ("label", "labels", "class", "gesture", "target", "y")


def guess_csv_columns(lines: Sequence[str], delimiter: str = ",") -> dict:
    """Default column mapping for a CSV from its first lines: {"emg_columns": "1-8", "time_column":
    "time" or None, "label_column": ... or None, "time_unit": "s"|"ms"}. A column named like a time,
    or (no header) a first column that rises steadily while the others do not, is the time column,
    never EMG; a column named like a label is the label column."""
    rows = [next(csv.reader([ln], delimiter=delimiter)) for ln in lines if ln.strip()]
    if not rows:
        return {"emg_columns": "", "time_column": None, "label_column": None, "time_unit": "s"}
    head = [f.strip() for f in rows[0]]
    header = not all(_is_number(f) for f in head)
    names = head if header else None
    data = rows[1:] if header else rows
    k = len(head)
    tcol = lcol = None
    unit = "s"
    if names:
        low = [n.lower() for n in names]
        tcol = next((i for i, n in enumerate(low) if n in TIME_NAMES), None)
        lcol = next((i for i, n in enumerate(low) if n in LABEL_NAMES), None)
        if tcol is not None and ("ms" in low[tcol] or (low[tcol] in ("ts", "timestamp") and data and _is_number(
                data[0][tcol]) and float(data[0][tcol]) > 1e11)):
            unit = "ms"
    elif len(data) >= 3:
        try:
            v = np.array([[float(x) for x in r] for r in data if len(r) == k])
            rising = (np.diff(v, axis=0) > 0).all(axis=0)
            if rising[0] and rising.sum() == 1:
                tcol = 0
        except ValueError:
            pass
    emg = [i for i in range(k) if i not in (tcol, lcol)]
    spec = (f"{emg[0]}-{emg[-1]}" if emg and emg == list(range(emg[0], emg[-1] + 1)) else ",".join(map(str, emg)))
    tname = None if tcol is None else (names[tcol] if names else str(tcol))
    lname = None if lcol is None else names[lcol]
    return {"emg_columns": spec, "time_column": tname, "label_column": lname, "time_unit": unit}
