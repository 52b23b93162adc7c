"""Paired EMG + pose import: two files written by two programs, each with its own clock.

``import_paired(emg_file, pose_file, dst)`` reads both (pandas' C CSV reader), turns each time column
into seconds on one wall clock, resolves what a clock leaves open (no date, a 12-hour clock without
AM/PM) against the other file, applies a stated offset, deduplicates and resamples irregular EMG
rows onto a regular grid, and writes one session: EMG as usual, pose as frames without images
(``/video/t``, ``/landmarks/*``, ``/pose/angles``; see docs/session-format.md). The alignment and
the resampling are recorded in the file (root attributes ``alignment`` and ``emg_resampling``, JSON).

Clocks (``--emg-clock`` / ``--pose-clock``):

* ``unix`` / ``unix-ms``: seconds / milliseconds since 1970 (numbers).
* ``iso``: ISO 8601 date-times (``2023-06-22T00:25:10.854``, an optional ``Z`` / ``+02:00``).
* ``datetime``: a date then a time, ``yy/mm/dd HH:MM:SS.fff`` and the like; ``date_order`` ymd|dmy|mdy.
* ``time``: a 24-hour time of day, the date from ``date`` or from the other file.
* ``time12``: a 12-hour time of day without AM/PM: the half day (and the day) is the one that makes
  the two files overlap most.
* ``auto``: numbers -> unix (ms when > 1e11); a date and time -> datetime/iso; a time of day ->
  ``time`` when some hour is over 12, else ``time12``.

Times are wall-clock seconds as written (no time zone is assumed; a ``Z``/offset suffix is honoured);
``offset_s`` is added to the pose clock, for a known skew or a time-zone difference.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from recorder.core.errors import UsageError
from recorder.imports.tables import ImportFormatError, _parse_columns, _smallest_dtype, _write_session

CLOCKS = ("auto", "unix", "unix-ms", "iso", "datetime", "time", "time12")
DAY = 86400.0

_TIME = r"(?P<H>\d{1,2}):(?P<M>\d{2}):(?P<S>\d{2}(?:[.,]\d+)?)"
_DATE = r"(?P<a>\d{2,4})[-/.](?P<b>\d{1,2})[-/.](?P<c>\d{1,4})"
_TZ = r"(?P<tz>Z|[+-]\d{2}:?\d{2})?"
_RE_TIME = rf"^\s*{_TIME}\s*$"
_RE_DATETIME = rf"^\s*{_DATE}[T ]\s*{_TIME}\s*{_TZ}\s*$"


def _pd():
    import pandas as pd
    return pd


class Table:
    """A CSV read as text columns: names, ``col(name)`` (T,) object array of str, line numbers."""

    def __init__(self, path: Path, frame):
        self.path, self.df = path, frame
        self.names = [str(c) for c in frame.columns]

    def line(self, row: int) -> int:
        """1-based file line of data row ``row`` (header = line 1; blank lines are skipped by the
        reader, so they are counted here by scanning the file, only on the error path)."""
        n = -1
        with open(self.path, encoding="utf-8-sig", errors="replace") as fh:
            for ln, text in enumerate(fh, 1):
                if text.strip():
                    n += 1
                    if n == row + 1:
                        return ln
        return row + 2

    def column(self, spec, what: str) -> str:
        if isinstance(spec, (int, np.integer)) or (isinstance(spec, str) and spec.strip().isdigit()):
            i = int(spec)
            if not 0 <= i < len(self.names):
                raise ImportFormatError(f"{self.path.name}: {what} column {i} does not exist "
                                        f"({len(self.names)} columns)")
            return self.names[i]
        if spec not in self.names:
            raise ImportFormatError(f"{self.path.name}: no {what} column {spec!r}; columns are {', '.join(self.names)}")
        return spec

    def numbers(self, cols: Sequence[str], what: str) -> np.ndarray:
        """(T, K) float64 of ``cols``; a field that is not a finite number is an error naming the line."""
        pd = _pd()
        out = np.empty((len(self.df), len(cols)), np.float64)
        for k, c in enumerate(cols):
            s = self.df[c]
            v = pd.to_numeric(s, errors="coerce").to_numpy(np.float64)
            bad = np.flatnonzero(~np.isfinite(v))
            if bad.size:
                i = int(bad[0])
                raise ImportFormatError(f"{self.path.name} line {self.line(i)}: {what} column {c!r} is not a "
                                        f"finite number: {s.iloc[i]!r}")
            out[:, k] = v
        return out


def read_table(path, delimiter: str = ",") -> Table:
    """Read a delimited text file with a header, every column as text (types are decided later)."""
    pd = _pd()
    path = Path(path)
    try:
        df = pd.read_csv(path, sep=delimiter, dtype=str, keep_default_na=False, skipinitialspace=True,
                         encoding="utf-8-sig", engine="c")
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    except pd.errors.ParserError as e:
        raise ImportFormatError(f"{path.name}: {e}") from None
    except pd.errors.EmptyDataError:
        raise ImportFormatError(f"{path.name}: empty file") from None
    except UnicodeDecodeError as e:
        raise ImportFormatError(f"{path.name}: not a text file ({e.reason})") from None
    if not len(df):
        raise ImportFormatError(f"{path.name}: no data rows")
    return Table(path, df)


# -- clocks --------------------------------------------------------------------------------------------
class Clock:
    """Times of one file: ``t`` (T,) float64 wall-clock seconds (days since 1970 x 86400 + time of
    day), ``kind`` as parsed, ``dated`` (whether the date was in the file), ``period`` (seconds left
    open: 86400 for a time of day, 43200 for a 12-hour clock, 0 when the times are absolute)."""

    def __init__(self, t: np.ndarray, kind: str, period: float):
        self.t, self.kind, self.period = t, kind, period
        self.shift_s = 0.0  # what resolution added (whole days / half days)


def _extract(tab: Table, col: str, pattern: str, what: str):
    s = tab.df[col].astype(str)
    parts = s.str.extract(pattern)
    miss = np.flatnonzero(parts["H"].isna().to_numpy())
    if miss.size:
        i = int(miss[0])
        raise ImportFormatError(f"{tab.path.name} line {tab.line(i)}: time {s.iloc[i]!r} is not {what}")
    return parts


def _seconds_of_day(parts, tab: Table, col: str, hour_max: int) -> np.ndarray:
    h = parts["H"].astype(np.int64).to_numpy()
    m = parts["M"].astype(np.int64).to_numpy()
    sec = parts["S"].str.replace(",", ".", regex=False).astype(np.float64).to_numpy()
    bad = np.flatnonzero((h > hour_max) | (m > 59) | (sec >= 61))
    if bad.size:
        i = int(bad[0])
        raise ImportFormatError(f"{tab.path.name} line {tab.line(i)}: time {tab.df[col].iloc[i]!r} out of range")
    return h * 3600.0 + m * 60.0 + sec


def parse_clock(tab: Table, col: str, kind: str = "auto", date_order: str = "ymd") -> Clock:
    """Parse the time column ``col`` of ``tab`` (see the module docstring for the kinds)."""
    if kind not in CLOCKS:
        raise UsageError(f"clock must be one of {', '.join(CLOCKS)}, got {kind!r}")
    s = tab.df[col].astype(str)
    first = s.iloc[0].strip()
    if kind == "auto":
        import re
        if re.fullmatch(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?", first):
            v = float(first)
            kind = "unix-ms" if abs(v) > 1e11 else "unix"
        elif re.fullmatch(_RE_DATETIME, first):
            kind = "iso" if re.match(r"\d{4}-\d{1,2}-\d{1,2}[T ]", first) else "datetime"
        elif re.fullmatch(_RE_TIME, first):
            kind = "time"
        else:
            raise ImportFormatError(f"{tab.path.name} line {tab.line(0)}: cannot tell the clock of {first!r} "
                                    f"(give the clock: {', '.join(CLOCKS[1:])})")
        if kind == "time":
            parts = _extract(tab, col, _RE_TIME, "a time of day")
            if parts["H"].astype(int).max() <= 12:
                kind = "time12"
    if kind in ("unix", "unix-ms"):
        v = tab.numbers([col], "time")[:, 0]
        return Clock(v * (1e-3 if kind == "unix-ms" else 1.0), kind, 0.0)
    if kind in ("time", "time12"):
        parts = _extract(tab, col, _RE_TIME, "a time of day (HH:MM:SS.fff)")
        sod = _seconds_of_day(parts, tab, col, 12 if kind == "time12" else 23)
        period = DAY / 2 if kind == "time12" else DAY
        if kind == "time12":
            sod = sod % period  # 12:xx is the first hour of its half day
        # Unwrap: a step back of more than half the period is the clock passing noon / midnight.
        back = np.diff(sod) < -period / 2
        sod = sod + period * np.concatenate(([0], np.cumsum(back)))
        return Clock(sod, kind, period)
    # iso / datetime
    parts = _extract(tab, col, _RE_DATETIME, "a date and time")
    a, b, c = (parts[k].astype(np.int64).to_numpy() for k in "abc")
    order = "ymd" if kind == "iso" else date_order
    if order == "ymd":
        y, mo, d = a, b, c
    elif order == "dmy":
        d, mo, y = a, b, c
    elif order == "mdy":
        mo, d, y = a, b, c
    else:
        raise UsageError(f"date_order must be ymd, dmy or mdy, got {date_order!r}")
    y = np.where(y < 100, y + 2000, y)
    try:
        days = np.array([(_dt.date(int(yy), int(mm), int(dd)) - _dt.date(1970, 1, 1)).days
                         for yy, mm, dd in _unique_dates(y, mo, d)], dtype=np.float64)
    except ValueError as e:
        bad = _first_bad_date(y, mo, d)
        raise ImportFormatError(f"{tab.path.name} line {tab.line(bad)}: bad date {s.iloc[bad]!r} "
                                f"(read as {order}: {e})") from None
    key = (y * 10000 + mo * 100 + d)
    uniq, inv = np.unique(key, return_inverse=True)
    del uniq
    t = days[inv] * DAY + _seconds_of_day(parts, tab, col, 23)
    tz = parts["tz"].fillna("").to_numpy(str)
    if (tz != "").any():
        off = np.array([_tz_seconds(z) for z in tz])
        t = t - off  # to UTC
    return Clock(t, kind, 0.0)


def _unique_dates(y, mo, d):
    key = y * 10000 + mo * 100 + d
    _, first = np.unique(key, return_index=True)
    return [(y[i], mo[i], d[i]) for i in first]


def _first_bad_date(y, mo, d) -> int:
    for i in range(len(y)):
        try:
            _dt.date(int(y[i]), int(mo[i]), int(d[i]))
        except ValueError:
            return i
    return 0


def _tz_seconds(z: str) -> float:
    if z in ("", "Z"):
        return 0.0
    sign = -1.0 if z[0] == "-" else 1.0
    z = z[1:].replace(":", "")
    return sign * (int(z[:2]) * 3600 + int(z[2:4]) * 60)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    return max(0.0, min(a[-1], b[-1]) - max(a[0], b[0]))


def resolve(emg: Clock, pose: Clock, date: str | None = None, offset_s: float = 0.0) -> dict:
    """Put both clocks on absolute wall-clock seconds, in place. A clock with a period (a time of day)
    gets ``date`` midnight, or the other file's first date, plus the whole number of periods that
    makes the two files overlap most (ties: nearest starts). ``offset_s`` is added to the pose times.
    Returns what was decided (for the ``alignment`` attribute)."""
    pose.t = pose.t + float(offset_s)
    base = None
    if date is not None:
        try:
            base = (_dt.date.fromisoformat(date) - _dt.date(1970, 1, 1)).days * DAY
        except ValueError:
            raise UsageError(f"date must be YYYY-MM-DD, got {date!r}") from None
    done = {id(c) for c in (emg, pose) if not c.period}
    # A 24-hour time of day first, so a 12-hour clock can then be resolved against it.
    order = sorted(((emg, pose, "EMG"), (pose, emg, "pose")), key=lambda o: o[0].kind == "time12")
    for this, other, name in order:
        if not this.period:
            continue
        ref = other.t if id(other) in done else None
        if base is not None:
            day0 = base
        elif ref is not None:
            day0 = np.floor(ref[0] / DAY) * DAY
        else:
            raise ImportFormatError(f"neither file has a date ({name} clock is {this.kind}): give --date YYYY-MM-DD")
        if ref is None:
            if this.kind == "time12":
                raise ImportFormatError(f"the {name} clock is 12-hour without AM/PM and the other file has no "
                                        f"date to resolve it against: give its clock as time (24-hour)")
            this.shift_s = day0
        else:
            ks = np.arange(-int(2 * DAY / this.period) - 1, int(2 * DAY / this.period) + 2)
            best = max(ks, key=lambda k: (_overlap(this.t + day0 + k * this.period, ref),
                                          -abs(this.t[0] + day0 + k * this.period - ref[0])))
            if _overlap(this.t + day0 + best * this.period, ref) <= 0:
                raise ImportFormatError(f"the EMG and pose files do not overlap in time for any reading of the "
                                        f"{name} clock ({this.kind}); check --date / --pose-offset")
            this.shift_s = day0 + best * this.period
        this.t = this.t + this.shift_s
        done.add(id(this))
    ov = _overlap(emg.t, pose.t)
    if ov <= 0:
        raise ImportFormatError(f"the EMG ({_iso(emg.t[0])} .. {_iso(emg.t[-1])}) and pose "
                                f"({_iso(pose.t[0])} .. {_iso(pose.t[-1])}) files do not overlap in time")
    return {"emg_clock": emg.kind, "pose_clock": pose.kind, "emg_shift_s": emg.shift_s if emg.period else 0.0,
            "pose_shift_s": pose.shift_s if pose.period else 0.0, "pose_offset_s": float(offset_s),
            "emg_start": _iso(emg.t[0]), "emg_end": _iso(emg.t[-1]),
            "pose_start": _iso(pose.t[0]), "pose_end": _iso(pose.t[-1]),
            "start_difference_s": float(pose.t[0] - emg.t[0]), "overlap_s": float(ov)}


def _iso(t: float) -> str:
    return (_dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=float(t))).isoformat(timespec="milliseconds")


# -- EMG regularisation --------------------------------------------------------------------------------
def regularise(t: np.ndarray, x: np.ndarray, sample_rate_hz: float | None = None, max_gap_s: float = 0.25,
               method: str = "previous", lines=None, name: str = "EMG") -> tuple[np.ndarray, np.ndarray, list, dict]:
    """Deduplicate and resample irregular rows onto a regular grid.

    t: (T,) s, non-decreasing; x: (T, C). Rows equal to the previous row in every channel, and rows
    at the same time as the previous one, are dropped (snapshot loggers repeat the last sample). The
    kept rows are resampled at ``sample_rate_hz`` (default: their mean rate,
    rounded to 1 Hz) by ``previous`` (the last row at or before each grid time: causal, what a live
    stream would have had), ``linear`` (interpolation between the rows around it: smoother, but it
    looks up to one row ahead) or ``nearest``. Intervals longer than ``max_gap_s`` become gaps.
    Returns (t_grid (N,), x_grid (N, C) float32, gaps [(start, end)], record for the file)."""
    if method not in ("previous", "linear", "nearest"):
        raise UsageError(f"resample method must be previous, linear or nearest, got {method!r}")
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        i = int(back[0]) + 1
        where = f" line {lines(i)}" if lines else f" row {i}"
        raise ImportFormatError(f"{name}{where}: time goes backwards")
    same = np.concatenate(([False], (np.diff(x, axis=0) == 0).all(axis=1)))
    same_t = np.concatenate(([False], np.diff(t) == 0))
    keep = ~(same | same_t)
    tk, xk = t[keep], x[keep]
    if len(tk) < 2:
        raise ImportFormatError(f"{name}: fewer than 2 distinct rows")
    if sample_rate_hz is None:
        sample_rate_hz = float(max(1, round((len(tk) - 1) / (tk[-1] - tk[0]))))
    if not (np.isfinite(sample_rate_hz) and sample_rate_hz > 0):
        raise UsageError(f"resample rate must be a positive finite number of Hz, got {sample_rate_hz}")
    grid = tk[0] + np.arange(int(np.floor((tk[-1] - tk[0]) * sample_rate_hz)) + 1) / sample_rate_hz
    big = np.flatnonzero(np.diff(tk) > max_gap_s)
    inside = np.zeros(len(grid), bool)
    gaps = []
    for i in big:
        a = np.searchsorted(grid, tk[i], side="right")
        b = np.searchsorted(grid, tk[i + 1], side="left")
        inside[a:b] = True  # grid points strictly between the last row before the gap and the next row
        gaps.append((float(tk[i] + 1.0 / sample_rate_hz), float(tk[i + 1])))
    grid = grid[~inside]
    if method == "previous":
        xg = xk[np.searchsorted(tk, grid, side="right") - 1]
    elif method == "linear":
        xg = np.stack([np.interp(grid, tk, xk[:, c]) for c in range(xk.shape[1])], axis=1)
    else:
        j = np.clip(np.searchsorted(tk, grid), 1, len(tk) - 1)
        j = np.where(grid - tk[j - 1] <= tk[j] - grid, j - 1, j)
        xg = xk[j]
    rec = {"method": f"drop rows equal to the previous row (all channels) or at a repeated time, then "
                     f"{method} interpolation onto a regular grid; intervals over {max_gap_s} s become gaps",
           "interpolation": method, "causal": method == "previous", "rate_hz": sample_rate_hz, "source_rows": int(len(t)),
           "duplicates_dropped": int((~keep).sum()), "rows_kept": int(keep.sum()),
           "kept_rows_mean_rate_hz": float((len(tk) - 1) / (tk[-1] - tk[0])),
           "kept_rows_median_interval_s": float(np.median(np.diff(tk))), "max_gap_s": max_gap_s,
           "gaps": len(gaps), "samples": int(len(grid))}
    return grid, xg.astype(np.float32), gaps, rec


# -- the import ------------------------------------------------------------------------------------------
def _pick_time_column(tab: Table, spec) -> str:
    if spec is not None:
        return tab.column(spec, "time")
    for n in tab.names:
        if n.strip().lower() in ("time", "timestamp", "t", "ts", "datetime", "date_time", "time_s"):
            return n
    return tab.names[0]


def import_paired(emg_file, pose_file, dst, *, emg_columns=None, emg_time_column=None, pose_time_column=None,
                  pose_columns=None, emg_clock: str = "auto", pose_clock: str = "auto", date: str | None = None,
                  date_order: str = "ymd", pose_offset_s: float = 0.0, resample_hz: float | None = None,
                  resample_method: str = "previous", max_gap_s: float = 0.25, units: str = "counts",
                  scale_to_uV: float = float("nan"), angle_definition: str = "", subject: str = "",
                  notes: str = "", hand: str = "", delimiter: str = ",") -> tuple[Path, dict]:
    """Import an EMG file and a pose (joint-angle) file with separate clocks as one session.

    emg_columns: EMG columns (default: every column but the time); pose_columns: angle columns in
    degrees (default: every column but the time), stored as they are in ``/pose/angles``.
    Session time 0 is the earlier of the two first (aligned) times. Returns (dst, alignment report).
    """

    emg_file, pose_file = Path(emg_file), Path(pose_file)
    if not np.isfinite(pose_offset_s):
        raise UsageError(f"pose offset must be a finite number of seconds, got {pose_offset_s}")
    et, pt = read_table(emg_file, delimiter), read_table(pose_file, delimiter)
    etc, ptc = _pick_time_column(et, emg_time_column), _pick_time_column(pt, pose_time_column)
    ecols = [et.column(c, "EMG") for c in _parse_columns(emg_columns)] if emg_columns else \
        [n for n in et.names if n != etc]
    pcols = [pt.column(c, "pose") for c in _parse_columns(pose_columns)] if pose_columns else \
        [n for n in pt.names if n != ptc]
    if not ecols or not pcols:
        raise ImportFormatError(f"{emg_file.name if not ecols else pose_file.name}: no data columns besides the time")
    x = et.numbers(ecols, "EMG")
    ang = pt.numbers(pcols, "pose").astype(np.float32)
    ec, pc = parse_clock(et, etc, emg_clock, date_order), parse_clock(pt, ptc, pose_clock, date_order)
    pback = np.flatnonzero(np.diff(pc.t) < 0)
    if pback.size:
        raise ImportFormatError(f"{pose_file.name} line {pt.line(int(pback[0]) + 1)}: time goes backwards")
    align = resolve(ec, pc, date, pose_offset_s)
    align["emg_first_raw"], align["pose_first_raw"] = str(et.df[etc].iloc[0]), str(pt.df[ptc].iloc[0])
    tg, xg, gaps, rec = regularise(ec.t, x, resample_hz, max_gap_s, resample_method,
                                   lines=et.line, name=emg_file.name)
    t0 = min(tg[0], pc.t[0])
    align["session_t0"] = _iso(t0)
    align["emg_first_sample_s"] = float(tg[0] - t0)
    align["pose_first_frame_s"] = float(pc.t[0] - t0)
    meta = {"subject": subject, "notes": notes, "hand": hand,
            "device": {"kind": "import", "source": emg_file.name, "pose_source": pose_file.name},
            "settings": {"importer": "paired", "emg_columns": ecols, "emg_time_column": etc,
                         "pose_columns": pcols, "pose_time_column": ptc},
            "source_file": emg_file.name, "pose_source_file": pose_file.name,
            "source_start_time": float(t0), "recorded_wall_clock": _iso(t0),
            "alignment": json.dumps(align), "emg_resampling": json.dumps(rec)}
    rate = float(rec["rate_hz"])
    dst = Path(dst)
    _write_session(dst, x=xg, t=tg - t0, sample_rate_hz=rate, channel_names=ecols, units=units, scale_to_uV=scale_to_uV,
                   dtype=np.float32, labels=[], gaps=[(a - t0, b - t0) for a, b in gaps], metadata=meta,
                   finish=lambda tmp: append_pose_frames(tmp, pc.t - t0, angles=ang, angle_names=pcols,
                                                         angle_definition=angle_definition, lock=False))
    align["frames"], align["samples"] = len(pc.t), int(len(tg))
    return dst, align


def append_pose_frames(dst, t: np.ndarray, world_mm: np.ndarray | None = None, angles: np.ndarray | None = None,
                       angle_names: Sequence[str] = (), angle_definition: str = "", hand: str = "",
                       lock: bool = True) -> None:
    """Add frames without images to a closed session written by an importer: times ``t`` (F,)
    session s, world landmarks (F, 21, 3) mm (NaN = no hand) and/or joint angles (F, K) degrees."""
    F = len(t)
    nan = np.full((F, 21, 3), np.nan, np.float32)
    world = nan if world_mm is None else np.asarray(world_mm, np.float32)
    has = np.isfinite(world).all(axis=(1, 2))
    if not lock:  # the caller holds the destination's lock (an importer's temporary file)
        _append_frames(dst, t, world, has, nan, angles, angle_names, angle_definition, hand)
        return
    from recorder.session.writelock import WriteLock
    wl = WriteLock(dst, "an import").acquire("add imported pose to it")
    try:
        _append_frames(dst, t, world, has, nan, angles, angle_names, angle_definition, hand)
    finally:
        wl.release()


def _append_frames(dst, t, world, has, nan, angles, angle_names, angle_definition, hand) -> None:
    import h5py

    # One resize + one write per dataset, as the writer does.
    from recorder.session.format import HANDEDNESS_CODES, _append, _str_array, set_attrs, set_root_attrs
    F = len(t)
    with h5py.File(dst, "r+") as f:
        off = f["video/jpeg"].shape[0]
        _append(f["video/jpeg_index"], np.tile(np.array([[off, 0]], np.int64), (F, 1)))
        _append(f["video/index"], np.arange(F, dtype=np.int64))
        _append(f["landmarks/image"], nan)
        _append(f["landmarks/world"], world)
        # Imported landmarks carry no tracker score: 1 where there is a hand, NaN (not processed) elsewhere.
        _append(f["landmarks/score"], np.where(has, 1.0, np.nan).astype(np.float32))
        code = HANDEDNESS_CODES.get(hand.capitalize(), 0)
        _append(f["landmarks/handedness"], np.where(has, code, 0).astype(np.uint8))
        _append(f["video/t"], np.asarray(t, np.float64))
        if angles is not None:
            ang = np.asarray(angles, np.float32)
            d = f.create_dataset("pose/angles", data=ang, chunks=(max(1, min(F, 4096)), ang.shape[1]),
                                 maxshape=(None, ang.shape[1]))
            set_attrs(d, {"names": _str_array(angle_names), "units": "deg",
                          "definition": angle_definition or "as given by the source file"})
        set_root_attrs(f, {"has_video": True, "video_storage": "none"})


# -- one table: EMG and 3-D joints on the same rows -------------------------------------------------------
MEDIAPIPE_JOINT_NAMES = ("wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
                         "index_finger_mcp", "index_finger_pip", "index_finger_dip", "index_finger_tip",
                         "middle_finger_mcp", "middle_finger_pip", "middle_finger_dip", "middle_finger_tip",
                         "ring_finger_mcp", "ring_finger_pip", "ring_finger_dip", "ring_finger_tip",
                         "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip")


def _presets() -> dict:
    from recorder.core.types import SEED_JOINT_NAMES
    return {
        # The seed project's / Leap-style joined CSV (also `emgrec export --format csv`): "Thumb Proximal x".
        "seed": {"joints": SEED_JOINT_NAMES, "column": "{joint} {axis}", "units": "mm",
                 "time": "emg timestamp", "frame_time": "hand timestamp"},
        # MediaPipe names (mp.solutions.hands.HandLandmark, lower case): "index_finger_tip_x".
        "mediapipe": {"joints": MEDIAPIPE_JOINT_NAMES, "column": "{joint}_{axis}", "units": "m"},
        # Numbered landmarks: "x0, y0, z0, ..., z20".
        "numbered": {"joints": tuple(str(i) for i in range(21)), "column": "{axis}{joint}", "units": "mm"},
    }


PRESETS = ("seed", "mediapipe", "numbered")


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name.lower())


def joint_columns(tab: Table, *, preset: str | None = None, joints: Sequence[str] | None = None,
                  column: str | None = None, pose_columns=None, layout: str = "interleaved") -> list[str]:
    """The 63 columns of the 21 landmarks (MediaPipe order) x (x, y, z), in that order.

    Named: a ``preset`` or ``joints`` (21 names in MediaPipe order) with a ``column`` template such as
    ``"{joint} {axis}"``; names match ignoring case, spaces, ``_``, ``-`` and ``.``. Positional:
    ``pose_columns`` (63 columns, e.g. "9-71") in ``layout`` "interleaved" (x0 y0 z0 x1 ...) or
    "blocks" (x0..x20 y0..y20 z0..z20)."""
    if pose_columns is not None:
        cols = [tab.column(c, "pose") for c in _parse_columns(pose_columns)]
        if len(cols) != 63:
            raise ImportFormatError(f"{tab.path.name}: {len(cols)} pose columns given; 21 joints x 3 = 63 needed")
        if layout == "blocks":
            cols = [cols[a * 21 + j] for j in range(21) for a in range(3)]
        elif layout != "interleaved":
            raise UsageError(f"layout must be interleaved or blocks, got {layout!r}")
        return cols
    p = _presets().get(preset or "", {})
    if preset and not p:
        raise UsageError(f"unknown joint preset {preset!r}; presets: {', '.join(PRESETS)}")
    joints = list(joints or p.get("joints") or [])
    column = column or p.get("column")
    if len(joints) != 21 or not column:
        raise UsageError("give a joint preset, or 21 joint names (MediaPipe order) and a column template")
    have = {_norm(n): n for n in tab.names}
    out, missing = [], []
    for j in joints:
        for a in "xyz":
            want = _norm(column.format(joint=j, axis=a))
            if want in have:
                out.append(have[want])
            else:
                missing.append(column.format(joint=j, axis=a))
    if missing:
        raise ImportFormatError(f"{tab.path.name}: no column {missing[0]!r} ({len(missing)} of 63 joint columns "
                                f"missing; columns are {', '.join(tab.names[:12])}{', ...' if len(tab.names) > 12 else ''})")
    return out


def import_table(src, dst, *, emg_columns, preset: str | None = "seed", joints: Sequence[str] | None = None,
                 column: str | None = None, pose_columns=None, layout: str = "interleaved", units: str | None = None,
                 time_column=None, clock: str = "auto", frame_time_column=None, sample_rate_hz: float | None = None,
                 label_column=None, emg_units: str = "counts", scale_to_uV: float = float("nan"), hand: str = "",
                 subject: str = "", notes: str = "", delimiter: str = ",") -> Path:
    """Import one table with EMG and 3-D joints on the same rows (seed / Leap-style joined CSVs).

    Each row is an EMG sample at ``time_column`` (any clock; session 0 = the first row) or at
    ``sample_rate_hz``. Frames: one per distinct ``frame_time_column`` value when the table has it (the
    seed layout repeats a frame's joints until the next), else every row whose joints differ from
    the previous row's. Joints in ``units`` "mm" or "m" (default: the preset's) become world landmarks
    in mm; rows with any missing coordinate have no hand."""
    src = Path(src)
    p = _presets().get(preset or "", {})
    tab = read_table(src, delimiter)
    jcols = joint_columns(tab, preset=preset, joints=joints, column=column, pose_columns=pose_columns, layout=layout)
    units = units or p.get("units", "mm")
    if units not in ("mm", "m"):
        raise UsageError(f"joint units must be mm or m, got {units!r}")
    ecols = [tab.column(c, "EMG") for c in _parse_columns(emg_columns)]
    x = tab.numbers(ecols, "EMG")
    pd = _pd()
    pose = np.stack([pd.to_numeric(tab.df[c].replace("", "nan"), errors="coerce").to_numpy(np.float64)
                     for c in jcols], axis=1)
    bad = np.flatnonzero(np.isinf(pose).any(axis=1))
    if bad.size:
        raise ImportFormatError(f"{src.name} line {tab.line(int(bad[0]))}: infinite joint coordinate")
    world = (pose * (1000.0 if units == "m" else 1.0)).reshape(-1, 21, 3).astype(np.float32)
    if time_column is None and p.get("time") and p["time"] in tab.names:
        time_column = p["time"]
    if time_column is not None:
        tc = parse_clock(tab, tab.column(time_column, "time"), clock)
        t = tc.t
        back = np.flatnonzero(np.diff(t) < 0)
        if back.size:
            raise ImportFormatError(f"{src.name} line {tab.line(int(back[0]) + 1)}: time goes backwards")
        t0 = float(t[0])
        t = t - t0
    else:
        if not (sample_rate_hz and np.isfinite(sample_rate_hz) and sample_rate_hz > 0):
            raise UsageError(f"{src.name}: give a time column or a positive finite rate")
        t, t0 = np.arange(len(x)) / float(sample_rate_hz), 0.0
    if sample_rate_hz is None:
        d = np.diff(t)
        ok = d <= 3 * np.median(d)
        sample_rate_hz = float(ok.sum() / d[ok].sum())
    if frame_time_column is None and p.get("frame_time") and p["frame_time"] in tab.names:
        frame_time_column = p["frame_time"]
    if frame_time_column is not None:
        fcol = tab.column(frame_time_column, "frame time")
        ft = pd.to_numeric(tab.df[fcol].replace("", "nan"), errors="coerce").to_numpy(np.float64)
        if time_column is not None and tc.kind in ("unix", "unix-ms"):
            ft = ft * (1e-3 if tc.kind == "unix-ms" else 1.0) - t0
        fin = np.isfinite(ft)
        new = fin & np.concatenate(([True], ft[1:] != ft[:-1]))
        rows, frame_t = np.flatnonzero(new), ft[new]
    else:
        same = np.concatenate(([False], np.all((world[1:] == world[:-1]) | (np.isnan(world[1:]) & np.isnan(world[:-1])),
                                               axis=(1, 2))))
        rows = np.flatnonzero(~same)
        frame_t = t[rows]
    from recorder.imports.tables import _find_gaps, _label_segments
    labels = []
    if label_column is not None:
        lab = tab.df[tab.column(label_column, "label")].astype(str).str.strip().to_numpy()
        uniq, codes = np.unique(lab, return_inverse=True)
        labels = [seg for seg in _label_segments(t, codes.astype(np.float64), 1.0 / sample_rate_hz,
                                                 {i: n for i, n in enumerate(uniq)}) if seg[2] != ""]
    meta = {"subject": subject, "notes": notes, "hand": hand,
            "device": {"kind": "import", "source": src.name},
            "settings": {"importer": "table", "preset": preset, "emg_columns": ecols, "joint_columns": jcols,
                         "joint_units": units, "time_column": time_column, "frame_time_column": frame_time_column},
            "source_file": src.name, "source_start_time": t0}
    dt = np.dtype(_smallest_dtype(x))
    _write_session(Path(dst), x=x.astype(dt), t=t, sample_rate_hz=float(sample_rate_hz), channel_names=ecols, units=emg_units,
                   scale_to_uV=scale_to_uV, dtype=dt, labels=labels, gaps=_find_gaps(t, 1.0 / sample_rate_hz), metadata=meta,
                   finish=lambda tmp: append_pose_frames(tmp, frame_t, world_mm=world[rows], hand=hand, lock=False))
    return Path(dst)


def _head_tail(path: Path, n: int = 20) -> str:
    """The header, the first ``n`` and the last ``n`` lines of a text file (cheap on big files)."""
    with open(path, "rb") as fh:
        head = [fh.readline() for _ in range(n + 1)]
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 64 * 1024))
        tail = fh.read().splitlines()[-n:]
    lines = [ln.rstrip(b"\r\n") for ln in head if ln.strip()]
    seen = set(lines)
    lines += [ln for ln in tail if ln.strip() and ln not in seen]
    return b"\n".join(lines).decode("utf-8-sig", errors="replace") + "\n"


def preview_alignment(emg_file, pose_file, *, emg_clock: str = "auto", pose_clock: str = "auto",
                      date: str | None = None, pose_offset_s: float = 0.0, date_order: str = "ymd") -> dict:
    """The alignment :func:`import_paired` would find, from the first and last lines of each file
    only (for a dialog's preview: fast on any file size). Raises like the import does."""
    import io
    pd = _pd()
    tabs = []
    for f in (Path(emg_file), Path(pose_file)):
        df = pd.read_csv(io.StringIO(_head_tail(f)), dtype=str, keep_default_na=False, skipinitialspace=True)
        tabs.append(Table(f, df))
    et, pt = tabs
    ec = parse_clock(et, _pick_time_column(et, None), emg_clock, date_order)
    pc = parse_clock(pt, _pick_time_column(pt, None), pose_clock, date_order)
    al = resolve(ec, pc, date, pose_offset_s)
    al["emg_first_raw"] = str(et.df[_pick_time_column(et, None)].iloc[0])
    al["pose_first_raw"] = str(pt.df[_pick_time_column(pt, None)].iloc[0])
    return al


def describe_alignment(al: dict) -> str:
    """One line for the CLI and the Import dialog."""
    return (f"EMG ({al['emg_clock']} clock) {al['emg_first_raw']!r} read as {al['emg_start']}, pose "
            f"({al['pose_clock']} clock) {al['pose_first_raw']!r} read as {al['pose_start']}, pose offset "
            f"{al['pose_offset_s']:+g} s; the pose starts {al['start_difference_s']:+.3f} s from the EMG; "
            f"overlap {al['overlap_s']:.1f} s")
