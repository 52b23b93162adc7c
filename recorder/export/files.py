"""Exports of session files: training-ready arrays (HDF5 / NPZ), the seed project's joined CSV,
and MP4 video with the hand skeleton drawn over the stored frames.

Every export takes ``progress`` (called with a :class:`recorder.core.types.Progress`, total 1.0) and
``cancel`` (a ``threading.Event`` or a callable returning True to stop; checked between blocks,
raising :class:`ExportCancelled`), writes to a temporary file next to the output and renames it into
place only when complete, so a cancelled or failed export never leaves a half-written file under
the final name.

Windows come from :func:`recorder.dataset.windows.build_windows` (the same windowing the training uses),
called on time blocks of one session at a time, so memory stays bounded however long the recording:
each block holds ``block_s`` seconds of anchors plus the EMG their windows reach back to.
The file layouts are documented in ``docs/export.md``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import threading
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from recorder import __version__
from recorder.core.errors import Cancelled, EmgrecError
from recorder.core.types import HAND_CONNECTIONS, N_LANDMARKS, SEED_JOINT_NAMES, Progress, ProgressCallback

log = logging.getLogger(__name__)

# progress(Progress.of_fraction(fraction in [0, 1], message)); cancel: threading.Event or callable
# returning True to stop.

#: The seed CSV's hand columns (joint names in recorder.core.types.SEED_JOINT_NAMES).
SEED_HAND_COLUMNS: tuple[str, ...] = tuple(f"{j} {a}" for j in SEED_JOINT_NAMES for a in "xyz")
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}  # -1: in no part (the gap between parts)


class ExportError(EmgrecError, ValueError):
    """Bad export request (no sessions, mismatched sessions, unknown format); names the file."""


class ExportCancelled(Cancelled, RuntimeError):
    """The cancel flag was set; the partial output was removed."""


@dataclass
class ExportResult:
    path: Path
    format: str
    items: int          # windows, rows or frames written
    manifest: dict | None = None


# ------------------------------------------------------------------------------------------------
# Plumbing: progress, cancel, atomic output
# ------------------------------------------------------------------------------------------------

class _Job:
    def __init__(self, progress: ProgressCallback | None, cancel) -> None:
        self.progress = progress
        if cancel is None:
            self._cancelled = lambda: False
        elif isinstance(cancel, threading.Event):
            self._cancelled = cancel.is_set
        elif callable(cancel):
            self._cancelled = cancel
        else:
            raise TypeError("cancel must be a threading.Event, a callable or None")

    def step(self, fraction: float, message: str) -> None:
        if self._cancelled():
            raise ExportCancelled(f"export cancelled ({message})")
        if self.progress is not None:
            self.progress(Progress.of_fraction(fraction, message))


@contextlib.contextmanager
def _atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path in the output's folder; rename it to ``path`` on success only.
    The output's write lock is held throughout: a session being recorded (or saved) there is
    refused (:class:`~recorder.session.writelock.SessionBusyError`), and no recording starts there meanwhile."""
    from recorder.session.writelock import WriteLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 mode would stick to the export; the writer creates the file (umask applies).
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    lock = WriteLock(path, "an export").acquire("export to it")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        lock.release()


def _paths(sessions: Sequence[str | Path]) -> list[Path]:
    out = [Path(s) for s in sessions]
    if not out:
        raise ExportError("no session files given")
    for p in out:
        if not p.is_file():
            raise FileNotFoundError(f"session file not found: {p}")
    return out


def _not_an_input(out: Path, inputs) -> None:
    """An export renamed over one of its own sessions would replace the recording: always refused."""
    from recorder.session.writelock import check_output
    check_output(out, inputs, force=True, what="export output")


def _finite_or_none(v: float) -> float | None:
    """NaN is not JSON: unknown scales are written as null."""
    return float(v) if np.isfinite(v) else None


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------------------------
# Windows, one session and one time block at a time
# ------------------------------------------------------------------------------------------------

@dataclass
class _SessionPlan:
    path: Path
    sha256: str
    sample_rate_hz: float
    channel_names: list[str]
    units: str
    scale_to_uV: float
    n_samples: int
    n_frames: int
    frames_with_hand: int
    labels: list
    duration_s: float


def _plan(paths: list[Path], job: _Job) -> list[_SessionPlan]:
    from recorder.dataset.windows import file_sha256
    from recorder.session.format import SessionReader

    plans = []
    for i, p in enumerate(paths):
        job.step(0.0, f"checking {p.name}")
        with SessionReader(p) as r:
            plans.append(_SessionPlan(p, "", r.sample_rate_hz, list(r.channel_names), r.units, r.scale_to_uV,
                                      r.n_samples, r.n_frames, int(r.has_hand().sum()), r.labels, r.duration_s))
        plans[-1].sha256 = file_sha256(p)
    first = plans[0]
    for pl in plans[1:]:
        if abs(pl.sample_rate_hz - first.sample_rate_hz) > 1e-6 or len(pl.channel_names) != len(first.channel_names):
            raise ExportError(f"{pl.path}: {pl.sample_rate_hz:g} Hz x {len(pl.channel_names)} channels differs from "
                              f"{first.path}: {first.sample_rate_hz:g} Hz x {len(first.channel_names)}; export them separately")
    return plans


def _iter_window_blocks(plan: _SessionPlan, *, task: str, window_ms: float, class_names: list[str],
                        background_label: str | None, grid_step_ms: float = 50.0,
                        all_frames: bool = False, block_s: float = 60.0):
    """Yield WindowSets of one session, block by block (``frame`` = session frame row, -1 for grid).

    Anchors are the session's frames (pose task, or any task when it has frames) or a regular grid
    every ``grid_step_ms`` (EMG-only sessions). ``all_frames``: anchor on every frame, hand or not
    (for drawing predictions on video; targets are then meaningless and zero).
    Each block is handed to :func:`recorder.dataset.windows.build_windows` as a small in-memory session whose
    EMG starts a full window (plus margin) before the block's first anchor, so it keeps exactly the
    windows the whole session would keep.
    """
    from recorder.dataset.windows import DatasetError, SessionArrays, build_windows, window_samples
    from recorder.session.format import SessionReader

    T = window_samples(window_ms, plan.sample_rate_hz)
    period = 1.0 / plan.sample_rate_hz
    with SessionReader(plan.path) as r:
        emg_t = r.emg_t
        gaps = r.gaps
        use_frames = r.n_frames > 0 and (all_frames or plan.frames_with_hand > 0)
        if use_frames:
            anchor_t = r.video_t
            world = None if all_frames else r.landmarks_world
        else:
            if task == "pose":
                raise ExportError(f"{plan.path}: no frames with a hand, so no pose targets; export with task 'gesture'")
            if not len(emg_t):
                return
            # The grid dataset.build_windows(anchor="grid") uses, laid over the whole session.
            anchor_t = np.arange(emg_t[0] + (T - 1) * period, emg_t[-1] + 1e-9, grid_step_ms * 1e-3)
            world = None
        if not len(anchor_t) or len(emg_t) < T:
            return
        edges = np.arange(anchor_t[0], anchor_t[-1] + block_s, block_s)
        bounds = np.searchsorted(anchor_t, edges, side="left")
        bounds[-1] = len(anchor_t)
        for a, b in zip(bounds[:-1], bounds[1:]):
            if b <= a:
                continue
            e0 = int(np.searchsorted(emg_t, anchor_t[a] - (T + 2) * period, side="left"))
            e1 = int(np.searchsorted(emg_t, anchor_t[b - 1] + 2 * period, side="right"))
            if world is not None:
                w = np.asarray(world[a:b], dtype=np.float32)
                if not np.isfinite(w).all(axis=(1, 2)).any():
                    continue  # no hand in this block
            else:
                # Pseudo-frames: build_windows anchors on "frames with a hand"; here every anchor counts.
                w = np.zeros((b - a, N_LANDMARKS, 3), np.float32)
            sa = SessionArrays(name=plan.path.name, sample_rate_hz=plan.sample_rate_hz, channel_names=plan.channel_names,
                               emg_t=emg_t[e0:e1], emg=np.asarray(r.emg_data[e0:e1]),
                               gaps=gaps, frame_t=anchor_t[a:b], world=w, labels=[] if all_frames else plan.labels,
                               path=str(plan.path), sha256=plan.sha256, scale_to_uV=plan.scale_to_uV)
            try:
                ws = build_windows([sa], task="pose" if (world is not None and task == "pose") else "gesture",
                                   window_ms=window_ms, anchor="frames", class_names=class_names,
                                   background_label=background_label)
            except DatasetError:
                continue  # every anchor of this block was dropped (gap, too early, unlabelled)
            ws.frame = ws.frame + a if use_frames else np.full(len(ws.frame), -1, np.int64)
            if world is None:
                ws.y = None
            yield ws, b / len(anchor_t)


def _class_names(plans: list[_SessionPlan], background_label: str | None, given: Sequence[str] | None) -> list[str]:
    if given is not None:
        return list(given)
    names = {n for pl in plans for _, _, n in pl.labels}
    if background_label:
        names.add(background_label)
    return sorted(names)


def _resolve_task(plans: list[_SessionPlan], task: str) -> str:
    if task == "auto":
        return "pose" if all(pl.frames_with_hand > 0 for pl in plans) else "gesture"
    if task not in ("pose", "gesture"):
        raise ExportError(f"task must be 'auto', 'pose' or 'gesture', got {task!r}")
    return task


# ------------------------------------------------------------------------------------------------
# Training-ready arrays: HDF5 (streamed) and NPZ (streamed from the HDF5)
# ------------------------------------------------------------------------------------------------

class _H5Windows:
    """Growable, chunked datasets in an open h5py file; appends WindowSet blocks."""

    def __init__(self, f, T: int, C: int, with_y: bool, chunk_rows: int):
        self.f = f
        self.n = 0
        rows = max(16, min(chunk_rows, (1 << 20) // max(1, T * C * 4)))  # ~1 MiB chunks of X
        self.ds = {
            "X": f.create_dataset("X", (0, T, C), maxshape=(None, T, C), chunks=(rows, T, C), dtype="<f4"),
            "label": f.create_dataset("label", (0,), maxshape=(None,), chunks=(4096,), dtype="<i8"),
            "t": f.create_dataset("t", (0,), maxshape=(None,), chunks=(4096,), dtype="<f8"),
            "frame": f.create_dataset("frame", (0,), maxshape=(None,), chunks=(4096,), dtype="<i8"),
            "session": f.create_dataset("session", (0,), maxshape=(None,), chunks=(4096,), dtype="<i8"),
        }
        if with_y:
            self.ds["Y"] = f.create_dataset("Y", (0, 3 * N_LANDMARKS), maxshape=(None, 3 * N_LANDMARKS),
                                            chunks=(4096, 3 * N_LANDMARKS), dtype="<f4")
        self.sum = np.zeros(C, np.float64)
        self.sumsq = np.zeros(C, np.float64)

    def append(self, ws, session_index: int) -> None:
        m = len(ws)
        X = np.asarray(ws.X)  # one block's windows (block_s of anchors), never the session's
        cols = {"X": X, "label": ws.label, "t": ws.t, "frame": ws.frame,
                "session": np.full(m, session_index, np.int64)}
        if "Y" in self.ds:
            cols["Y"] = ws.y
        for k, v in cols.items():
            d = self.ds[k]
            d.resize(self.n + m, axis=0)
            d[self.n:] = v
        self.n += m
        flat = X.reshape(-1, X.shape[-1]).astype(np.float64)
        self.sum += flat.sum(axis=0)
        self.sumsq += np.square(flat).sum(axis=0)

    def norm(self, T: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and std over every exported window sample (as dataset.fit_channel_norm)."""
        count = max(1, self.n * T)
        mean = self.sum / count
        std = np.sqrt(np.maximum(self.sumsq / count - mean ** 2, 0.0))
        std[std < 1e-6] = 1.0
        return mean.astype(np.float32), std.astype(np.float32)


def _split_codes(t: np.ndarray, session: np.ndarray, sessions: list[dict], window_n: int, sample_rate_hz: float,
                 split_mode: str, **split_kw) -> tuple[dict, np.ndarray]:
    """A dataset split over the windows' anchor times, and per-window part codes (N,) int8."""
    from recorder.dataset.windows import WindowSet, make_split, split_indices, split_to_json

    # make_split/split_indices read only times, sessions and the window length: X is a zero-size
    # broadcast stand-in, so no window data is loaded for this.
    dummy_x = np.broadcast_to(np.zeros((1, 1, 1), np.float32), (len(t), 1, 1))
    ws = WindowSet(X=dummy_x, y=None, label=np.zeros(len(t), np.int64), t=t, frame=np.zeros(len(t), np.int64),
                   session=session, sessions=sessions, class_names=[], sample_rate_hz=sample_rate_hz, channel_names=[],
                   window_n=window_n, anchor="frames")
    split = make_split(ws, mode=split_mode, **split_kw)
    codes = np.full(len(t), -1, np.int8)
    for part, code in SPLIT_CODES.items():
        codes[split_indices(ws, split, part)] = code
    return split_to_json(split), codes


def export_windows(sessions: Sequence[str | Path], out: str | Path, *, fmt: str | None = None, window_ms: float = 200.0,
                   task: str = "auto", normalise: bool = False, class_names: Sequence[str] | None = None,
                   background_label: str | None = "rest", grid_step_ms: float = 50.0, split: str = "time",
                   val_fraction: float = 0.15, test_fraction: float = 0.15, block_s: float = 60.0,
                   progress: ProgressCallback | None = None, cancel=None) -> ExportResult:
    """Training-ready windows of one or more sessions (same rate and channels) in one file.

    Arrays (N windows, T samples, C channels):
      X (N, T, C) float32 EMG windows, raw device units, or normalised ((x - x_mean) / x_std) when
        ``normalise``; Y (N, 63) float32 wrist-relative world landmarks in mm (pose task only);
      label (N,) int64 index into class_names (-1: unlabelled); t (N,) float64 anchor time in
        session seconds (window's last sample at or before it); frame (N,) int64 video row (-1 for
        grid anchors); session (N,) int64 index into the manifest's sessions; split (N,) int8
        0 train / 1 val / 2 test / -1 between parts; session_index (S, 2) int64 [start, stop) rows;
      x_mean, x_std (C,) float32 per-channel statistics over all exported windows.
    fmt: "h5" (written block by block; bounded memory) or "npz"; default from the suffix of ``out`` (streamed from an HDF5 built first,
    member by member, so also bounded). A JSON manifest goes into the file (attribute / member
    ``manifest``) and next to it as ``OUT.json``.
    task: "pose", "gesture" (no Y) or "auto" (pose when every session has frames with a hand).
    split: "time" | "blocks" | "session" as :func:`recorder.dataset.windows.make_split`.
    """
    import h5py

    from recorder.dataset.windows import window_samples

    out = Path(out)
    if fmt is None:
        fmt = "npz" if out.suffix.lower() == ".npz" else "h5"
    if fmt not in ("h5", "npz"):
        raise ExportError(f"array format must be 'h5' or 'npz', got {fmt!r}")
    job = _Job(progress, cancel)
    paths = _paths(sessions)
    out = Path(out)
    _not_an_input(out, paths)
    plans = _plan(paths, job)
    task = _resolve_task(plans, task)
    classes = _class_names(plans, background_label, class_names)
    rate, chans = plans[0].sample_rate_hz, plans[0].channel_names
    T = window_samples(window_ms, rate)
    C = len(chans)
    total_s = sum(max(pl.duration_s, 1e-9) for pl in plans)
    done_s = 0.0
    session_meta = []
    p_win = 0.85 if fmt == "h5" else 0.5  # progress share of windowing; the rest: normalise, npz copy
    with _atomic_output(out) as tmp_out:
        # npz: build the HDF5 first (bounded memory), then stream it into the zip.
        tmp = tmp_out if fmt == "h5" else tmp_out.with_name(tmp_out.name + ".h5")
        try:
            with h5py.File(tmp, "w", libver=EXPORT_LIBVER) as f:
                sink = _H5Windows(f, T, C, task == "pose", chunk_rows=256)
                index = []
                for si, pl in enumerate(plans):
                    start = sink.n
                    dropped = 0
                    for ws, frac in _iter_window_blocks(pl, task=task, window_ms=window_ms, class_names=classes,
                                                        background_label=background_label, grid_step_ms=grid_step_ms,
                                                        block_s=block_s):
                        sink.append(ws, si)
                        dropped += ws.dropped
                        job.step((done_s + frac * pl.duration_s) / total_s * p_win,
                                 f"{pl.path.name}: {sink.n - start} windows")
                    done_s += pl.duration_s
                    index.append((start, sink.n))
                    session_meta.append({"name": pl.path.name, "path": str(pl.path.resolve()), "sha256": pl.sha256,
                                         "duration_s": pl.duration_s, "samples": pl.n_samples, "frames": pl.n_frames,
                                         "windows": sink.n - start, "dropped": dropped})
                if sink.n == 0:
                    raise ExportError(f"no usable windows in {', '.join(str(p) for p in paths)} "
                                      f"(task {task}, window {window_ms:g} ms)")
                x_mean, x_std = sink.norm(T)
                job.step(p_win, "split and normalisation")
                split_json, codes = _split_codes(f["t"][:], f["session"][:], session_meta, T, rate, split,
                                                 val_fraction=val_fraction, test_fraction=test_fraction) \
                    if split != "none" else (None, np.full(sink.n, -1, np.int8))
                f.create_dataset("split", data=codes)
                f.create_dataset("session_index", data=np.asarray(index, np.int64).reshape(-1, 2))
                f.create_dataset("x_mean", data=x_mean)
                f.create_dataset("x_std", data=x_std)
                if normalise:
                    X = f["X"]
                    step = X.chunks[0] * 16
                    for a in range(0, sink.n, step):
                        X[a:a + step] = (X[a:a + step] - x_mean) / x_std
                        job.step(p_win + 0.1 * a / sink.n, "normalising")
                manifest = {
                    "format": "emgrec-windows", "format_version": 1, "created_utc": _utc_now(),
                    "software_version": __version__, "task": task, "n_windows": int(sink.n),
                    "window": {"ms": window_ms, "samples": T, "anchor": "frames with a hand" if task == "pose"
                               else "frames or a grid", "grid_step_ms": grid_step_ms,
                               "rule": "last sample at or before the anchor time ends the window"},
                    "emg": {"sample_rate_hz": rate, "channel_names": chans, "units": plans[0].units,
                            "scale_to_uV": _finite_or_none(plans[0].scale_to_uV), "dtype": "float32"},
                    "targets": None if task != "pose" else {
                        "shape": [3 * N_LANDMARKS], "units": "mm", "frame": "MediaPipe world landmarks minus the wrist",
                        "order": "landmark-major x, y, z (21 MediaPipe landmarks)"},
                    "labels": {"class_names": classes, "background": background_label, "unlabelled": -1},
                    "normalisation": {"applied": bool(normalise), "x_mean": x_mean.tolist(), "x_std": x_std.tolist(),
                                      "fit_on": "all exported windows (refit on the train split for training)"},
                    "split": split_json, "split_codes": SPLIT_CODES,
                    "sessions": session_meta,
                    "arrays": ["X", "Y", "label", "t", "frame", "session", "split", "session_index", "x_mean", "x_std"]
                    if task == "pose" else ["X", "label", "t", "frame", "session", "split", "session_index",
                                            "x_mean", "x_std"],
                }
                f.attrs["manifest"] = json.dumps(manifest)
                f.attrs["class_names"] = json.dumps(classes)
                f.attrs["channel_names"] = json.dumps(chans)
            if fmt == "npz":
                _h5_to_npz(tmp, tmp_out, manifest, job)
        finally:
            if fmt == "npz":
                tmp.unlink(missing_ok=True)
    Path(str(out) + ".json").write_text(json.dumps(manifest, indent=1))
    job.step(1.0, f"wrote {manifest['n_windows']} windows to {out.name}")
    return ExportResult(out, fmt, int(manifest["n_windows"]), manifest)


def _h5_to_npz(h5_path: Path, npz_path: Path, manifest: dict, job: _Job, rows_per_write: int = 4096) -> None:
    """Stream each dataset of the HDF5 export into an uncompressed .npz member (np.load reads it)."""
    import h5py
    from numpy.lib import format as npformat

    with h5py.File(h5_path, "r") as f, zipfile.ZipFile(npz_path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        names = [n for n in manifest["arrays"] if n in f]
        for k, name in enumerate(names):
            d = f[name]
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fp:
                npformat.write_array_header_2_0(fp, {"descr": npformat.dtype_to_descr(d.dtype),
                                                     "fortran_order": False, "shape": d.shape})
                if d.ndim == 0 or d.shape[0] == 0:
                    fp.write(np.ascontiguousarray(d[()]).tobytes())
                    continue
                for a in range(0, d.shape[0], rows_per_write):
                    fp.write(np.ascontiguousarray(d[a:a + rows_per_write]).tobytes())
                    job.step(0.6 + 0.4 * (k + a / d.shape[0]) / len(names), f"writing {name}.npy")
        small = {"class_names": np.array(manifest["labels"]["class_names"], dtype=str),
                 "channel_names": np.array(manifest["emg"]["channel_names"], dtype=str),
                 "manifest": np.array(json.dumps(manifest))}
        for name, arr in small.items():
            with zf.open(f"{name}.npy", "w") as fp:
                npformat.write_array(fp, arr, allow_pickle=False)


# ------------------------------------------------------------------------------------------------
# The seed project's joined CSV
# ------------------------------------------------------------------------------------------------

def csv_header(n_channels: int = 8) -> list[str]:
    """Columns of :func:`export_csv`: 3 times, ch1..chC, 63 hand coordinates, label."""
    return (["hand timestamp", "timestamp diff", "emg timestamp"] + [f"ch{i + 1}" for i in range(n_channels)]
            + list(SEED_HAND_COLUMNS) + ["label"])


def export_csv(session: str | Path, out: str | Path, *, rows_per_block: int = 20000,
               progress: ProgressCallback | None = None, cancel=None) -> ExportResult:
    """One session as the seed project's joined CSV: one row per EMG sample.

    Columns (see :func:`csv_header`): ``hand timestamp`` (session s of the latest frame at or
    before the sample; nan before the first frame), ``timestamp diff`` (hand - emg, s, <= 0),
    ``emg timestamp`` (session s), ``ch1..chC`` (raw device units), 63 hand columns
    ``Wrist x .. Pinky Tip z`` (world landmarks of that frame in mm, forward-filled; nan where the
    frame had no hand), ``label`` (gesture segment covering the sample, empty if none).
    """
    from recorder.dataset.windows import labels_at
    from recorder.session.format import SessionReader

    job = _Job(progress, cancel)
    session, out = Path(session), Path(out)
    _not_an_input(out, [session])
    with SessionReader(session) as r, _atomic_output(out) as tmp:
        n, C = r.n_samples, len(r.channel_names)
        emg_t, vt = r.emg_t, r.video_t
        labels = r.labels
        integer = np.issubdtype(r.emg_data.dtype, np.integer)
        hand_fmt = ",".join(["%.3f"] * (3 * N_LANDMARKS))
        no_hand = ",".join(["nan"] * (3 * N_LANDMARKS))
        with open(tmp, "w", newline="") as fp:
            fp.write(",".join(csv_header(C)) + "\n")
            for a in range(0, n, rows_per_block):
                b = min(n, a + rows_per_block)
                t = emg_t[a:b]
                x = np.asarray(r.emg_data[a:b])
                fi = np.searchsorted(vt, t, side="right") - 1  # forward fill: latest frame at or before
                # Format each frame's 63 coordinates once: ~7 EMG rows share a frame at 200 Hz / 30 fps.
                hand_of = {-1: no_hand}
                if (fi >= 0).any():
                    lo, hi = int(fi[fi >= 0].min()), int(fi.max()) + 1
                    w = np.asarray(r.landmarks_world[lo:hi], dtype=np.float64).reshape(hi - lo, -1)
                    for k in np.unique(fi[fi >= 0]):
                        hand_of[int(k)] = hand_fmt % tuple(w[k - lo])
                th = np.where(fi >= 0, vt[np.clip(fi, 0, None)] if len(vt) else np.nan, np.nan)
                emg_rows = [",".join(map(str, row)) for row in x.tolist()] if integer else \
                    [",".join(f"{v:.6g}" for v in row) for row in x.tolist()]
                names = labels_at(t, labels, None)
                fields = {nm: _csv_field(nm) for nm in set(names)}
                lines = [f"{h:.6f},{h - e:.6f},{e:.6f},{xs},{hand_of[k]},{fields[nm]}"
                         for h, e, xs, k, nm in zip(th.tolist(), t.tolist(), emg_rows, fi.tolist(), names)]
                fp.write("\n".join(lines) + "\n")
                job.step(b / max(1, n), f"{session.name}: {b} of {n} rows")
    return ExportResult(out, "csv", n)


def _csv_field(name: str | None) -> str:
    if not name:
        return ""
    if any(c in name for c in ',"\n'):
        return '"' + name.replace('"', '""') + '"'
    return name


def read_csv(path: str | Path) -> tuple[list[str], np.ndarray, list[str]]:
    """Read an :func:`export_csv` file back: (header, (rows, 3 + C + 63) float64, labels)."""
    import csv

    with open(path, newline="") as fp:
        rd = csv.reader(fp)
        header = next(rd)
        rows, labels = [], []
        for row in rd:
            rows.append([float(v) if v else np.nan for v in row[:-1]])
            labels.append(row[-1])
    return header, np.asarray(rows, dtype=np.float64).reshape(-1, len(header) - 1), labels


# ------------------------------------------------------------------------------------------------
# Video with the skeleton overlay
# ------------------------------------------------------------------------------------------------

TRUTH_BGR = (80, 220, 80)
PRED_BGR = (255, 80, 255)


def draw_skeleton(img: np.ndarray, pts_px: np.ndarray, color=TRUTH_BGR, thickness: int = 2) -> None:
    """Draw 21 (x, y) pixel points and the MediaPipe connections onto a BGR image in place."""
    import cv2

    if not np.isfinite(pts_px).all():
        return
    p = np.round(pts_px).astype(np.int32)
    for a, b in HAND_CONNECTIONS:
        cv2.line(img, tuple(map(int, p[a])), tuple(map(int, p[b])), color, thickness, cv2.LINE_AA)
    for q in p:
        cv2.circle(img, tuple(map(int, q)), thickness + 1, color, -1, cv2.LINE_AA)


def _inset_points(rel_mm: np.ndarray, x0: int, y0: int, size: int, span_mm: float = 220.0) -> np.ndarray:
    """Orthographic x-y view of wrist-relative mm landmarks (21, 3), fitted into a square inset."""
    s = size / span_mm
    return np.stack([x0 + size / 2 + rel_mm[:, 0] * s, y0 + size * 0.8 + rel_mm[:, 1] * s], axis=1)


class _H264Writer:
    """MP4 with H.264 (yuv420p, plays in browsers and slide programs) through PyAV's bundled
    FFmpeg/libx264; without PyAV (extra ``[formats]``), OpenCV's MPEG-4 Part 2 (mp4v) with a warning.
    ``write(img)`` takes (H, W, 3) uint8 BGR; odd sizes are padded to even (yuv420p needs it)."""

    def __init__(self, path: Path, fps: float, w: int, h: int):
        self.w, self.h = w + w % 2, h + h % 2
        self.codec = "h264"
        try:
            import av
        except ImportError:
            av = None
        if av is None:
            import cv2
            log.warning("PyAV is not installed (pip install 'emgrec[formats]'): writing MPEG-4 Part 2 (mp4v), "
                        "which browsers do not play")
            self.codec, self._av = "mpeg4", None
            self._cv = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
            if not self._cv.isOpened():
                raise OSError(f"OpenCV cannot write MP4 (mp4v) to {path}")
            return
        from fractions import Fraction
        self._cv = None
        self._av = av
        self._out = av.open(str(path), "w", format="mp4")
        rate = Fraction(float(fps)).limit_denominator(1001)
        self._st = self._out.add_stream("libx264", rate=rate)
        self._st.width, self._st.height, self._st.pix_fmt = self.w, self.h, "yuv420p"
        self._st.options = {"crf": "20", "preset": "veryfast", "movflags": "+faststart"}

    def write(self, img: np.ndarray) -> None:
        if self._cv is not None:
            self._cv.write(img)
            return
        if img.shape[0] != self.h or img.shape[1] != self.w:
            img = np.pad(img, ((0, self.h - img.shape[0]), (0, self.w - img.shape[1]), (0, 0)), mode="edge")
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
        for pkt in self._st.encode(frame):
            self._out.mux(pkt)

    def close(self) -> None:
        if self._cv is not None:
            self._cv.release()
            return
        if self._out is not None:
            out, self._out = self._out, None
            try:
                for pkt in self._st.encode():
                    out.mux(pkt)
            finally:
                out.close()


def _label_hand(img: np.ndarray, pts_px: np.ndarray, text: str, color) -> None:
    """Write ``text`` just above the wrist (landmark 0) of a drawn hand."""
    import cv2
    if not text or not np.isfinite(pts_px).all():
        return
    x, y = int(np.clip(pts_px[0, 0], 2, img.shape[1] - 60)), int(np.clip(pts_px[0, 1] + 14, 12, img.shape[0] - 4))
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)


def export_video(session: str | Path, out: str | Path, *, predict: Callable[[np.ndarray], np.ndarray] | None = None,
                 window_ms: float = 200.0, fps: float | None = None, inset: bool = True,
                 progress: ProgressCallback | None = None, cancel=None) -> ExportResult:
    """MP4 (H.264, yuv420p) of the stored frames with the landmark skeleton drawn on (green) and
    labelled with its handedness ("Right hand (MediaPipe)").

    predict: optional ``f(X (M, T, C) float32 raw units) -> (M, 63) mm wrist-relative`` (a pose
    model); its output and the recorded pose (both wrist-relative) are drawn side by side in an
    inset, prediction in magenta, for every frame whose EMG window is complete; the inset's two hands
    are labelled "recorded" and "model".
    fps: output frame rate; default the session's measured frame rate. Frames are written in
    stored order, one video frame per stored frame.
    """
    import cv2

    job = _Job(progress, cancel)
    session, out = Path(session), Path(out)
    _not_an_input(out, [session])
    from recorder.session.format import SessionReader

    preds: dict[int, np.ndarray] = {}
    if predict is not None:
        plan = _plan([session], job)[0]
        for ws, frac in _iter_window_blocks(plan, task="gesture", window_ms=window_ms, class_names=["-"],
                                            background_label="-", all_frames=True):
            y = np.asarray(predict(ws.X), dtype=np.float32).reshape(len(ws), -1)
            if y.shape[1] != 3 * N_LANDMARKS:
                raise ExportError(f"predict returned {y.shape[1]} values per window; a pose model gives 63")
            preds.update(zip(ws.frame.tolist(), y))
            job.step(0.3 * frac, "predicting")
    p0 = 0.3 if predict is not None else 0.0
    with SessionReader(session) as r:
        nf = r.n_frames
        if nf == 0:
            raise ExportError(f"{session}: no video frames to export")
        vt = r.video_t
        if fps is None:
            fps = (nf - 1) / (vt[-1] - vt[0]) if nf > 1 and vt[-1] > vt[0] else 30.0
        first = r.frame(0)
        h, w = first.shape[:2]
        with _atomic_output(out) as tmp:
            # OpenCV picks the container from the extension: give the temp file a .mp4 name.
            tmp_mp4 = tmp.with_name(tmp.name + ".mp4")
            writer = _H264Writer(tmp_mp4, float(fps), w, h)
            hands = r.handedness
            try:
                step = 256
                for a in range(0, nf, step):
                    b = min(nf, a + step)
                    img_lm = np.asarray(r.landmarks_image[a:b])
                    world = np.asarray(r.landmarks_world[a:b])
                    for i in range(a, b):
                        img = first if i == 0 else r.frame(i)
                        draw_skeleton(img, img_lm[i - a, :, :2] * (w, h))
                        if hands[i]:
                            _label_hand(img, img_lm[i - a, :, :2] * (w, h), f"{hands[i]} hand (MediaPipe)", TRUTH_BGR)
                        if inset and (predict is not None):
                            size = min(h, w) // 3
                            x0, y0 = w - 2 * size - 10, 10
                            cv2.rectangle(img, (x0, y0), (x0 + 2 * size, y0 + size), (40, 40, 40), -1)
                            wr = world[i - a]
                            if np.isfinite(wr).all():
                                draw_skeleton(img, _inset_points(wr - wr[:1], x0, y0, size), TRUTH_BGR, 1)
                            if i in preds:
                                draw_skeleton(img, _inset_points(preds[i].reshape(N_LANDMARKS, 3), x0 + size, y0,
                                                                 size), PRED_BGR, 1)
                            for k, (txt, col) in enumerate((("recorded", TRUTH_BGR), ("model", PRED_BGR))):
                                cv2.putText(img, txt, (x0 + 4 + k * size, y0 + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                                            col, 1, cv2.LINE_AA)
                        cv2.putText(img, f"{vt[i]:8.2f} s", (10, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                                    (255, 255, 255), 1, cv2.LINE_AA)
                        writer.write(img)
                    job.step(p0 + (1 - p0) * b / nf, f"{session.name}: frame {b} of {nf}")
            except BaseException:
                writer.close()  # first, so the unlink also works where open files cannot be removed
                tmp_mp4.unlink(missing_ok=True)  # cancelled or failed: no .part.mp4 left behind
                raise
            finally:
                writer.close()
            os.replace(tmp_mp4, tmp)
    return ExportResult(out, "mp4", nf)


def load_pose_predictor(model_dir: str | Path) -> tuple[Callable[[np.ndarray], np.ndarray], float]:
    """(predict, window_ms) from a model folder (:func:`recorder.model.folder.load_model`):
    ``predict(X (M, T, C) raw units) -> (M, 63) mm`` wrist-relative. Raises ExportError for a
    gesture model (nothing to draw as a hand)."""
    from recorder.model.folder import load_model

    model = load_model(model_dir)
    if model.task != "pose":
        raise ExportError(f"{model_dir}: a {model.task} model; the video overlay needs a pose model")
    return model.predict, model.window_ms


# ------------------------------------------------------------------------------------------------
# One entry point for the CLI and the GUI
# ------------------------------------------------------------------------------------------------

def _write_bids(sessions, out_dir, **kw):
    from recorder.export.bids import export_bids
    return export_bids(sessions, out_dir, **kw)


@dataclass(frozen=True)
class ExportTarget:
    """One export format: its code (``--format``), the suffix of its output (``""``: a folder), a
    line for help texts and the dialog, what :attr:`ExportResult.items` counts, the function that
    writes it, and whether it writes one output per session (csv, mp4) or one for all of them."""
    name: str
    extension: str
    description: str
    unit: str
    writer: Callable
    per_session: bool


#: The export formats, by code, in the order the help lists them.
TARGETS: dict[str, ExportTarget] = {t.name: t for t in (
    ExportTarget("npz", ".npz", "Training windows (NPZ)", "windows", export_windows, False),
    ExportTarget("h5", ".h5", "Training windows (HDF5)", "windows", export_windows, False),
    ExportTarget("csv", ".csv", "Seed-project CSV (one row per EMG sample)", "rows", export_csv, True),
    ExportTarget("mp4", ".mp4", "MP4 video with skeleton overlay", "frames", export_video, True),
    ExportTarget("bids", "", "EMG-BIDS dataset folder", "recording", _write_bids, False),
)}
FORMATS = tuple(TARGETS)


def format_from_suffix(out: str | Path) -> str | None:
    """The format whose extension ``out`` has (``.hdf5`` counts as ``.h5``), or None."""
    suffix = Path(out).suffix.lower().replace(".hdf5", ".h5")
    return next((t.name for t in TARGETS.values() if t.extension and t.extension == suffix), None)


def output_paths(sessions: Sequence[str | Path], out: str | Path, fmt: str) -> list[Path]:
    """The outputs :func:`export` writes for these arguments: npz/h5 ``out``; csv/mp4 ``out`` for one
    session given with a suffix, else ``out/<session stem>.<fmt>`` (a folder); bids the folder ``out``."""
    out = Path(out)
    if not TARGETS[fmt].per_session or (len(sessions) == 1 and out.suffix):
        return [out]
    return [out / f"{Path(p).stem}{TARGETS[fmt].extension}" for p in sessions]


def written_files(sessions: Sequence[str | Path], out: str | Path, fmt: str) -> list[Path]:
    """:func:`output_paths` plus the files written beside them (npz/h5: the ``.json`` manifest)."""
    paths = output_paths(sessions, out, fmt)
    return paths + [Path(f"{p}.json") for p in paths] if TARGETS[fmt].unit == "windows" else paths


def export_folder(sessions_folder: str | Path) -> Path:
    """Default export folder for sessions in ``sessions_folder``: its sibling ``<name>-exports``
    (``~/emgrec-sessions`` -> ``~/emgrec-sessions-exports``), so exports are not listed as sessions."""
    sessions_folder = Path(sessions_folder)
    return sessions_folder.parent / f"{sessions_folder.name}-exports"


def unused_path(p: str | Path) -> Path:
    """``p``, or ``<stem>_2<suffix>``, ``_3``... whichever does not exist yet."""
    p = Path(p)
    n = 2
    out = p
    while out.exists():
        out = p.with_name(f"{p.stem}_{n}{p.suffix}")
        n += 1
    return out


def default_output(sessions: Sequence[str | Path], fmt: str) -> Path:
    """The default output of exporting ``sessions`` as ``fmt``, in :func:`export_folder` of the
    first session's folder: ``<stem>_windows.h5`` (``<stem>_and_<n>_more_windows.h5`` for several),
    ``<stem>.mp4``, a folder ``export_<fmt>`` for several csv/mp4 sessions, ``<stem>_bids`` for bids;
    never the name of something that exists."""
    ss = [Path(s) for s in sessions]
    if not ss:
        raise ExportError("no session files given")
    t = TARGETS[fmt]
    base = export_folder(ss[0].parent)
    if t.per_session and len(ss) > 1:
        out = base / f"export_{fmt}"
    elif t.unit == "windows":
        stem = ss[0].stem if len(ss) == 1 else f"{ss[0].stem}_and_{len(ss) - 1}_more"
        out = base / f"{stem}_windows{t.extension}"
    else:
        out = base / f"{ss[0].stem}{t.extension or '_' + fmt}"
    return unused_path(out)
#: HDF5 format bounds of ``.h5`` exports: no SWMR needed, so the oldest encodings (HDF5 1.8 readers,
#: older MATLAB) up to the 1.10 format, never HDF5 2.x's newer ones (see session.LIBVER).
EXPORT_LIBVER = ("earliest", "v110")


def export(sessions: Sequence[str | Path], out: str | Path, fmt: str, *, window_ms: float = 200.0,
           model_dir: str | Path | None = None, progress: ProgressCallback | None = None, cancel=None,
           overwrite: bool = True, **options) -> list[ExportResult]:
    """Export sessions in ``fmt``. npz/h5 merge all sessions into ``out``; csv/mp4 write one file
    per session: ``out`` itself for one session, else ``out/<session stem>.<fmt>`` (a folder).

    An output that is one of the sessions is always refused (ValueError), one being written by a
    recording is refused (SessionBusyError); an existing output is replaced only when ``overwrite``
    (the CLI passes ``--force``; the GUI asks first)."""
    from recorder.session.writelock import check_output

    paths = _paths(sessions)
    out = Path(out)
    if fmt not in TARGETS:
        raise ExportError(f"unknown export format {fmt!r}: expected one of {', '.join(FORMATS)}")
    writer = TARGETS[fmt].writer
    if fmt == "bids":  # one dataset folder for all sessions (recorder/export/bids.py); it may exist
        check_output(out, paths, force=True, what="BIDS dataset folder")
        return [ExportResult(f, "bids", 1) for f in writer(paths, out, progress=progress, overwrite=overwrite,
                                                           **options)]
    targets = output_paths(paths, out, fmt)
    for o in targets:
        check_output(o, paths, force=overwrite, what="export output")
    if not TARGETS[fmt].per_session:
        return [writer(paths, out, fmt=fmt, window_ms=window_ms, progress=progress, cancel=cancel, **options)]
    predict = None
    if fmt == "mp4" and model_dir:
        predict, window_ms = load_pose_predictor(model_dir)  # the model decides its window length
    results = []
    for k, (p, o) in enumerate(zip(paths, targets)):
        def sub(part: Progress, k=k):  # one file's progress as a share of all files
            if progress is not None:
                progress(Progress.of_fraction((k + part.fraction) / len(paths), part.text))
        if fmt == "csv":
            results.append(writer(p, o, progress=sub, cancel=cancel, **options))
        else:
            results.append(writer(p, o, predict=predict, window_ms=window_ms, progress=sub, cancel=cancel,
                                  **options))
    return results
