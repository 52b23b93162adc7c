"""Training windows from session files: EMG window ending at each anchor time -> pose / gesture.

For every anchor (a video frame with a hand, or a point of a regular grid for EMG-only sessions),
the input is the EMG window of ``window_n`` samples whose last sample is the last one taken at or
before the anchor time; the pose target is the 21 world landmarks (mm) minus the wrist, flattened
to 63 values; the gesture target is the label segment covering the anchor time. Anchors whose
window reaches before the first sample, crosses a recorded gap or a hole in the sample times, or
whose time lies in a gap or past the end of the EMG are dropped.

Everything is vectorised: window end indices come from one ``searchsorted`` on ``/emg/t``. Windows
are not stored: a :class:`WindowView` keeps the continuous (N, C) signal in its stored dtype (int8,
int16, float32) and each window's last-sample index, and gathers float32 windows on demand (a batch
at a time in training), because windows overlap almost entirely (a 400 ms window every 33 ms holds
each sample 12 times). ``build_windows(..., materialise=True)`` gives the old (M, T, C) array.

Splits are contiguous time blocks or whole sessions, never random windows (overlapping windows
leak): a gap of one window length (plus ``extra_gap_s``) separates the blocks, so no EMG sample is
in the windows of two parts. A split is stored as time ranges per session (by content hash), so a
model folder can recreate it exactly.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from recorder.core.errors import EmgrecError
from recorder.core.types import N_LANDMARKS
from recorder.dataset import session_norm as snorm

log = logging.getLogger(__name__)

PARTS = ("train", "val", "test")


class DatasetError(EmgrecError, ValueError):
    """No usable windows, incompatible sessions or a bad split; the message names the file."""


# -- reading sessions --------------------------------------------------------------------------------
@dataclass
class SessionArrays:
    """One session in memory (all times in session seconds).

    emg_t: (N,) float64 s; emg: (N, C) raw device units in the stored dtype (int8, int16, float32);
    gaps: (G, 2) float64 s;
    frame_t: (F,) float64 s; world: (F, 21, 3) float32 mm (NaN where no hand) or None;
    labels: [(start_s, end_s, name)].
    """

    name: str
    sample_rate_hz: float
    channel_names: list[str]
    emg_t: np.ndarray
    emg: np.ndarray
    gaps: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    frame_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    world: np.ndarray | None = None
    labels: list = field(default_factory=list)
    path: str = ""
    sha256: str = ""
    scale_to_uV: float = float("nan")
    angles: np.ndarray | None = None  # (F, K) float32 imported joint angles (deg), or None
    angle_names: list = field(default_factory=list)
    score: np.ndarray | None = None  # (F,) landmark scores, for label cleaning
    handedness: np.ndarray | None = None  # (F,) str "Left"/"Right"/""
    #: EMG-to-video lag stored in the file (s; NaN: none stored), see recorder.dataset.lag.
    lag_s: float = float("nan")

    def __post_init__(self) -> None:
        if not self.sha256:
            # In-memory sessions (tests) get a content hash too, so stored splits can find them.
            h = hashlib.sha256()
            h.update(np.ascontiguousarray(self.emg_t).tobytes())
            h.update(np.ascontiguousarray(self.emg).tobytes())
            h.update(np.ascontiguousarray(self.frame_t).tobytes())
            if self.world is not None:
                h.update(np.ascontiguousarray(self.world).tobytes())
            self.sha256 = h.hexdigest()


def file_sha256(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_session(path: str | Path, load_emg: bool = True) -> SessionArrays:
    """Load what training needs from one session file (EMG, gaps, frame times, world landmarks,
    labels) into memory. Raises the session module's SessionFormatError for bad files.
    load_emg=False: ``emg`` is a zero-byte stand-in of the right shape and dtype (the signal stays
    in the file; see :class:`FileWindows`)."""
    from recorder.session.format import SessionReader

    path = Path(path)
    with SessionReader(path) as r:
        emg_t = np.asarray(r.emg_t[:], dtype=np.float64)
        d = r.emg_data
        if load_emg:
            emg = np.asarray(d[:])  # stored dtype: windows become float32 a batch at a time
        else:
            emg = np.broadcast_to(np.zeros((1, d.shape[1]), d.dtype), d.shape)
        gaps = np.asarray(r.gaps[:], dtype=np.float64).reshape(-1, 2)
        frame_t = np.asarray(r.video_t[:], dtype=np.float64) if r.video_t is not None else np.zeros(0)
        world = None
        if len(frame_t):
            world = np.asarray(r.landmarks_world[:], dtype=np.float32)
        labels = [(float(s), float(e), str(n)) for s, e, n in r.labels]
        angles = r.angles if len(frame_t) else None
        score = np.asarray(r.landmarks_score[:], np.float32) if len(frame_t) else None
        hand = np.asarray(r.handedness) if len(frame_t) else None
        s = SessionArrays(name=path.name, sample_rate_hz=float(r.sample_rate_hz), channel_names=list(r.channel_names),
                          emg_t=emg_t, emg=emg, gaps=gaps, frame_t=frame_t, world=world, labels=labels,
                          path=str(path), sha256=file_sha256(path), scale_to_uV=float(r.scale_to_uV),
                          angles=angles, angle_names=r.angle_names if angles is not None else [],
                          score=score, handedness=hand)
        from recorder.dataset.lag import LAG_ATTR  # read through the reader: a crashed or hostile file opens safely
        stored = r.attrs.get(LAG_ATTR)
    try:
        s.lag_s = float("nan") if stored is None else float(stored)
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: root attribute {LAG_ATTR} is not a number: {stored!r}") from None
    if emg.ndim != 2 or len(emg) != len(emg_t):
        raise DatasetError(f"{path}: /emg/data {emg.shape} and /emg/t {emg_t.shape} disagree")
    check_finite(path, emg=emg, emg_t=emg_t, frame_t=frame_t)
    for name, a in (("/landmarks/world", world), ("/pose/angles", angles)):
        if a is not None and np.isinf(a).any():  # NaN means "no hand" / not measured; inf is damage
            row = int(np.isinf(a).reshape(len(a), -1).any(axis=1).argmax())
            raise DatasetError(f"{path}: {name} holds infinite values (first at row {row})")
    return s


def check_finite(where, **arrays) -> None:
    """Raise DatasetError naming ``where`` and the first bad row when an array holds NaN or inf:
    non-finite EMG, times or targets must never reach a model."""
    for name, a in arrays.items():
        if a is None:
            continue
        a = np.asarray(a)
        if a.dtype.kind != "f" or a.size == 0:
            continue
        bad = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1) if a.ndim else ~np.isfinite(a)
        if bad.any():
            raise DatasetError(f"{where}: {name} holds {int(bad.sum())} non-finite row(s) (NaN or inf), "
                               f"first at row {int(np.flatnonzero(bad)[0])}; refusing to train on them")


def as_sessions(sessions: Iterable[str | Path | SessionArrays], load_emg: bool = True) -> list[SessionArrays]:
    out = [s if isinstance(s, SessionArrays) else read_session(s, load_emg) for s in sessions]
    if not out:
        raise DatasetError("no sessions given")
    return out


# -- windowing ---------------------------------------------------------------------------------------
def window_ends(emg_t: np.ndarray, anchor_t: np.ndarray, window_n: int, sample_rate_hz: float,
                gaps: np.ndarray | None = None, tolerance: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Index of the last EMG sample at or before each anchor, and whether its window is usable.

    emg_t: (N,) sorted sample times (s); anchor_t: (M,) s; window_n: samples per window.
    A window [end - window_n + 1, end] is kept when it starts at or after sample 0, the anchor is
    within 1.5 sample periods of its last sample (not inside a gap or past the end), its samples
    span no more than (window_n - 1) periods (+ ``tolerance`` relative for clock drift, + half a
    period), i.e. no sample is missing, and it does not overlap a recorded gap (G, 2).
    Returns end (M,) int64 (clipped into range) and ok (M,) bool.
    """
    emg_t = np.asarray(emg_t, dtype=np.float64)
    anchor_t = np.asarray(anchor_t, dtype=np.float64)
    period = 1.0 / sample_rate_hz
    end = np.searchsorted(emg_t, anchor_t, side="right") - 1
    start = end - (window_n - 1)
    ok = start >= 0
    end_c = np.clip(end, 0, len(emg_t) - 1)
    start_c = np.clip(start, 0, len(emg_t) - 1)
    ok &= end >= 0
    ok &= anchor_t - emg_t[end_c] <= 1.5 * period
    ok &= emg_t[end_c] - emg_t[start_c] <= (window_n - 1) * period * (1.0 + tolerance) + 0.5 * period
    if gaps is not None and len(gaps):
        t_first = emg_t[start_c]
        for g0, g1 in np.asarray(gaps, dtype=np.float64).reshape(-1, 2):
            ok &= ~((g0 <= anchor_t) & (g1 >= t_first))
    return end_c.astype(np.int64), ok


def gather_windows(x: np.ndarray, end: np.ndarray, window_n: int, dtype=np.float32) -> np.ndarray:
    """(M, T, C) windows x[end - T + 1 : end + 1] for each end index, from x (N, C), in one gather."""
    view = sliding_window_view(x, window_n, axis=0)  # (N - T + 1, C, T), no copy
    return np.ascontiguousarray(view[np.asarray(end) - (window_n - 1)].transpose(0, 2, 1), dtype=dtype)


class WindowView:
    """(M, T, C) float32 windows that are never stored: the continuous signal (N, C) in its stored
    dtype and the index of each window's last sample, end (M,) int64. Indexing gathers
    ``signal[end - T + 1 : end + 1]`` exactly as :func:`gather_windows` (int -> (T, C), slice or
    index array -> (k, T, C); a tuple indexes the gathered windows further); ``np.asarray(view)``
    materialises all of them. Windows of one view never span two sessions (build_windows checks)."""

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, signal: np.ndarray, end: np.ndarray, window_n: int):
        self.signal = signal
        self.end = np.asarray(end, dtype=np.int64)
        self.window_n = int(window_n)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.end), self.window_n, int(self.signal.shape[1]))

    def __len__(self) -> int:
        return len(self.end)

    def take(self, idx) -> "WindowView":
        """The windows ``idx`` as another view of the same signal (no copy of the signal)."""
        return WindowView(self.signal, self.end[idx], self.window_n)

    def tail(self, n: int) -> "WindowView":
        """The last ``n`` <= window_n samples of every window (the same end indices)."""
        if not 1 <= n <= self.window_n:
            raise ValueError(f"tail of {n} samples from windows of {self.window_n}")
        return WindowView(self.signal, self.end, n)

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        e = self.end[key]
        if np.ndim(e) == 0:
            w = gather_windows(self.signal, np.array([e]), self.window_n)[0]
            return w[rest] if rest else w
        w = gather_windows(self.signal, e, self.window_n)
        return w[(slice(None),) + rest] if rest else w

    def __array__(self, dtype=None, copy=None):
        w = gather_windows(self.signal, self.end, self.window_n)
        return w if dtype is None else w.astype(dtype, copy=False)


class FileWindows:
    """(M, T, C) float32 windows whose signal stays in the session files (data larger than memory).

    paths: one session file per session; end (M,) int64: each window's last sample, as a row of
    its own session's /emg/data; session (M,) int64 index into paths. Indexing reads, per session,
    the rows the requested windows span (keep requests local: sorted, contiguous batches) and
    gathers them like :class:`WindowView`. Files are opened per read, so worker processes forked
    from the trainer never share an HDF5 handle. scales: per session, (block scales (K + 1, C), block
    length) of a per-session input scale (:mod:`recorder.dataset.session_norm`) that every read
    applies (rows then float32), or None.
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, paths: Sequence[str], end: np.ndarray, session: np.ndarray, window_n: int,
                 n_channels: int, rows: Sequence[int], signal_dtype, scales: list | None = None):
        self.paths = [str(p) for p in paths]
        self.scales = scales
        self.end = np.asarray(end, dtype=np.int64)
        self.session = np.asarray(session, dtype=np.int64)
        self.window_n = int(window_n)
        self.n_channels = int(n_channels)
        self.rows = [int(n) for n in rows]  # /emg/data rows per session
        self.signal_dtype = np.dtype(np.float32 if scales is not None else signal_dtype)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.end), self.window_n, self.n_channels)

    def __len__(self) -> int:
        return len(self.end)

    def _like(self, end, session, window_n) -> "FileWindows":
        return FileWindows(self.paths, end, session, window_n, self.n_channels, self.rows, self.signal_dtype,
                           self.scales)

    def take(self, idx) -> "FileWindows":
        return self._like(self.end[idx], self.session[idx], self.window_n)

    def tail(self, n: int) -> "FileWindows":
        if not 1 <= n <= self.window_n:
            raise ValueError(f"tail of {n} samples from windows of {self.window_n}")
        return self._like(self.end, self.session, n)

    def read(self, si: int, a: int, b: int) -> np.ndarray:
        """Rows [a, b) of session ``si``'s /emg/data, (b - a, C) in the stored dtype (float32,
        session-scaled, with ``scales``)."""
        from recorder.session.format import SessionReader
        with SessionReader(self.paths[si]) as r:
            x = np.asarray(r.emg_data[a:b])
        if self.scales is None:
            return x
        sc, n = self.scales[si]
        return snorm.apply_scales(x, sc, n, a)

    def gather(self, idx: np.ndarray) -> np.ndarray:
        """(k, T, C) float32 windows ``idx`` (in that order), one file read per session touched."""
        idx = np.asarray(idx, dtype=np.int64)
        out = np.empty((len(idx), self.window_n, self.n_channels), np.float32)
        ss = self.session[idx]
        for si in np.unique(ss):
            sel = np.flatnonzero(ss == si)
            e = self.end[idx[sel]]
            lo = int(e.min()) - (self.window_n - 1)
            out[sel] = gather_windows(self.read(int(si), lo, int(e.max()) + 1), e - lo, self.window_n)
        return out

    def load(self, sessions: Sequence[int] | None = None) -> tuple["WindowView", np.ndarray]:
        """The windows of ``sessions`` (default all) as a WindowView over those sessions' signals
        read into memory (stored dtype), and their indices into this set (K,)."""
        keep = sorted(range(len(self.paths)) if sessions is None else {int(s) for s in sessions})
        sel = np.flatnonzero(np.isin(self.session, keep))
        signal = np.empty((sum(self.rows[s] for s in keep), self.n_channels), self.signal_dtype)
        end = np.empty(len(sel), np.int64)
        off = 0
        for s in keep:
            signal[off:off + self.rows[s]] = self.read(s, 0, self.rows[s])
            m = self.session[sel] == s
            end[m] = self.end[sel[m]] + off
            off += self.rows[s]
        return WindowView(signal, end, self.window_n), sel

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        idx = np.arange(len(self))[key]
        if np.ndim(idx) == 0:
            w = self.gather(np.array([idx]))[0]
            return w[rest] if rest else w
        w = self.gather(idx)
        return w[(slice(None),) + rest] if rest else w

    def __array__(self, dtype=None, copy=None):
        w = self.gather(np.arange(len(self)))
        return w if dtype is None else w.astype(dtype, copy=False)


#: Window sets whose windows are gathered on demand.
LAZY_WINDOWS = (WindowView, FileWindows)


def labels_at(t: np.ndarray, labels: Sequence[tuple[float, float, str]], background: str | None) -> list[str | None]:
    """Label name covering each time (M,); the latest-starting segment wins where segments overlap;
    ``background`` (or None) where no segment covers t."""
    t = np.asarray(t, dtype=np.float64)
    out: list[str | None] = [background] * len(t)
    if not labels:
        return out
    segs = sorted(labels, key=lambda s: s[0])
    starts = np.array([s[0] for s in segs])
    ends = np.array([s[1] for s in segs])
    # The latest segment starting at or before t covers it in the common (non-overlapping) case.
    k = np.searchsorted(starts, t, side="right") - 1
    names = [s[2] for s in segs]
    inside = (k >= 0) & (t < ends[np.clip(k, 0, None)])
    for i in np.flatnonzero(inside):
        out[i] = names[k[i]]
    # Rare: t is past the latest-starting segment's end but inside an earlier, longer one.
    for i in np.flatnonzero(~inside & (k >= 0)):
        for j in range(k[i], -1, -1):
            if t[i] < ends[j]:
                out[i] = names[j]
                break
    return out


TARGET_FRAMES = ("wrist", "hand")
TARGETS = ("landmarks", "angles")


def pose_targets(s: SessionArrays, target: str, target_frame: str = "wrist",
                 clean: dict | None = None) -> tuple[np.ndarray, list[str] | None]:
    """Per-frame targets of one session: (F, K) float32, NaN rows where there is none, and the
    angle names (None for landmarks). ``clean`` (enabled): frames :func:`recorder.dataset.clean.clean_mask`
    rejects become NaN rows (counts in ``clean["counts"]``, summed over calls) and the rest are
    optionally smoothed; see :mod:`recorder.dataset.clean`.

    target "landmarks": the 63 wrist-relative world landmark values (mm, ``target_frame``);
    "angles": the session's imported ``/pose/angles`` as they are when it has them, else the joint
    angles computed from the 21 world landmarks (:mod:`recorder.dataset.angles`, degrees)."""
    if target not in TARGETS:
        raise DatasetError(f"target must be one of {TARGETS}, got {target!r}")
    Y, names = _raw_targets(s, target, target_frame)
    if clean and clean.get("enabled"):
        from recorder.dataset.clean import clean_mask, smooth
        cfg = {k: v for k, v in clean.items() if k != "counts"}
        m, counts = clean_mask(s.frame_t, s.world, s.score, s.handedness, s.angles, cfg)
        Y = Y.copy()
        Y[m > 0] = np.nan
        if cfg.get("smooth_frames"):
            Y = smooth(Y, np.isfinite(Y).all(axis=1), int(cfg["smooth_frames"]), int(cfg.get("smooth_order", 2)))
        total = clean.setdefault("counts", {})
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    return Y, names


def _raw_targets(s: SessionArrays, target: str, target_frame: str) -> tuple[np.ndarray, list[str] | None]:
    if target == "angles":
        if s.angles is not None:
            return np.asarray(s.angles, np.float32), list(s.angle_names)
        from recorder.dataset.angles import ANGLE_NAMES, angles_from_landmarks
        if s.world is None:
            raise DatasetError(f"{s.name}: no landmarks or angles to compute angle targets from")
        return angles_from_landmarks(s.world), list(ANGLE_NAMES)
    w = s.world.astype(np.float32)
    w = hand_frame(w) if target_frame == "hand" else w - w[:, :1]
    return w.reshape(len(w), 3 * N_LANDMARKS), None


def hand_frame(world: np.ndarray) -> np.ndarray:
    """(n, 21, 3) world landmarks (mm) -> the same hand in its own palm frame (mm): origin at the
    wrist, +y toward the middle-finger MCP (9), +x toward the index MCP (5) side across the palm
    (from the pinky MCP 17), +z = x cross y (the palm normal). The global orientation of the hand
    (how the forearm is held) is removed; finger articulation, which forearm EMG carries, remains."""
    p = np.asarray(world, dtype=np.float64)
    p = p - p[:, :1]
    y = p[:, 9] / np.linalg.norm(p[:, 9], axis=-1, keepdims=True)
    across = p[:, 5] - p[:, 17]
    x = across - np.sum(across * y, axis=-1, keepdims=True) * y
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    z = np.cross(x, y)
    R = np.stack([x, y, z], axis=-1)  # columns are the frame axes
    return np.einsum("nkj,nji->nki", p, R).astype(np.float32)


@dataclass
class WindowSet:
    """All windows of a dataset, in memory.

    X: (M, T, C) float32 raw device units: a :class:`WindowView` (windows gathered on demand) or,
    from ``build_windows(materialise=True)``, an ndarray; y: (M, 63) float32 mm wrist-relative (NaN-free) or None;
    label: (M,) int64 index into class_names, -1 where unlabelled; t: (M,) float64 anchor time
    (session s); frame: (M,) int64 frame index of the anchor, -1 for grid anchors; session: (M,) int64
    index into ``sessions`` (dicts: name, path, sha256, duration_s).
    """

    X: np.ndarray
    y: np.ndarray | None
    label: np.ndarray
    t: np.ndarray
    frame: np.ndarray
    session: np.ndarray
    sessions: list[dict]
    class_names: list[str]
    sample_rate_hz: float
    channel_names: list[str]
    window_n: int
    anchor: str
    dropped: int = 0
    target: str = "landmarks"  # pose task: "landmarks" (63 mm) or "angles" (K degrees, target_names)
    target_names: list | None = None
    clean_counts: dict | None = None  # frames each label-cleaning rule removed (recorder.dataset.clean)
    session_norm: dict | None = None  # the per-session input scale X went through (session_norm.resolve), or None

    def __len__(self) -> int:
        return int(len(self.X))

    @property
    def window_s(self) -> float:
        return self.window_n / self.sample_rate_hz

    def subset(self, idx: np.ndarray) -> "WindowSet":
        idx = np.asarray(idx)
        return WindowSet(self.X.take(idx) if isinstance(self.X, LAZY_WINDOWS) else self.X[idx],
                         None if self.y is None else self.y[idx], self.label[idx], self.t[idx],
                         self.frame[idx], self.session[idx], self.sessions, self.class_names, self.sample_rate_hz,
                         self.channel_names, self.window_n, self.anchor, target=self.target,
                         target_names=self.target_names, session_norm=self.session_norm)


def window_samples(window_ms: float, sample_rate_hz: float) -> int:
    n = int(round(window_ms * 1e-3 * sample_rate_hz))
    if n < 2:
        raise DatasetError(f"window of {window_ms} ms at {sample_rate_hz} Hz is under 2 samples")
    return n


def build_windows(sessions: Iterable[str | Path | SessionArrays], *, task: str = "pose", window_ms: float = 200.0,
                  anchor: str = "auto", grid_step_ms: float = 50.0, class_names: Sequence[str] | None = None,
                  background_label: str | None = "rest", target_frame: str = "wrist",
                  transition_guard_ms: float | None = None, target: str = "landmarks",
                  clean: dict | None = None, lag: str | float | None = None, materialise: bool = False,
                  signal: str = "memory", session_norm: dict | None = None) -> WindowSet:
    """Windows from one or more sessions (same rate and channels).

    task: "pose" (anchors = frames with a hand; y = 63 mm targets) or "gesture" (y omitted; label).
    anchor: "frames", "grid" (every grid_step_ms over the EMG) or "auto" (frames when the session
    has any, else the grid). class_names: fixed class order (e.g. a model's); default the sorted
    names found. background_label: class of times no label covers (None: such windows are dropped
    for the gesture task). target_frame: "wrist" (world axes, wrist-relative; the default of the
    architecture) or "hand" (the palm's own frame, see :func:`hand_frame`). transition_guard_ms
    (gesture task): drop windows that contain a label boundary or end less than this long after
    one, i.e. anchors within [b, b + window + guard] of a boundary b. A cued subject reacts a few
    hundred ms after the label changes, so those windows carry the previous gesture's EMG.
    target (pose task): "landmarks" or "angles", see :func:`pose_targets`; anchors are the frames
    whose targets are all finite. clean: label-cleaning thresholds (:mod:`recorder.dataset.clean`); the
    frames each rule removed are in ``WindowSet.clean_counts``.
    lag: EMG-to-video lag applied to frame anchors (the window of a frame stamped s ends at s - lag):
    None / "none" (0), "stored" (the session's stored lag, else 0), "auto" (stored, else estimated
    from the session, see :mod:`recorder.dataset.lag`) or a number of ms. The lag used is in ``sessions``.
    materialise: X as an (M, T, C) float32 array (the windows stored, ~T/step times the signal)
    instead of a :class:`WindowView` over the sessions' signals in their stored dtype.
    signal: "memory" (read the signals) or "file" (session paths only: X is a :class:`FileWindows`
    and no signal is read; for data larger than memory).
    session_norm: per-session input normalisation (:mod:`recorder.dataset.session_norm`; None or
    ``enabled`` false: off; "auto": on for the pose task): every session's signal is divided per channel by its causal robust
    scale (X is then float32, dimensionless) and windows ending in its warm-up are dropped.
    """
    try:
        sn = snorm.resolve(session_norm, task)
    except snorm.SessionNormError as e:
        raise DatasetError(str(e)) from None
    if signal not in ("memory", "file"):
        raise DatasetError(f"signal must be 'memory' or 'file', got {signal!r}")
    if target_frame not in TARGET_FRAMES:
        raise DatasetError(f"target_frame must be one of {TARGET_FRAMES}, got {target_frame!r}")
    if task not in ("pose", "gesture"):
        raise DatasetError(f"task must be 'pose' or 'gesture', got {task!r}")
    if signal == "file":
        if materialise:
            raise DatasetError("materialise needs the signal in memory (signal='memory')")
        # Read one session at a time and keep only what the window index needs: the times of ten
        # hours at 2 kHz alone are 0.6 GB.
        ss = list(sessions)
        if not ss:
            raise DatasetError("no sessions given")
        nopath = [s.name for s in ss if isinstance(s, SessionArrays) and not s.path]
        if nopath:
            raise DatasetError(f"{', '.join(nopath)}: in-memory sessions cannot be read from a file")
        if not isinstance(ss[0], SessionArrays):
            ss[0] = read_session(ss[0], load_emg=False)
    else:
        ss = as_sessions(sessions)
    rate, chans = ss[0].sample_rate_hz, ss[0].channel_names

    def check(s: SessionArrays) -> None:
        if abs(s.sample_rate_hz - rate) > 1e-6 or len(s.channel_names) != len(chans):
            raise DatasetError(f"{s.name}: {s.sample_rate_hz} Hz x {len(s.channel_names)} channels differs from "
                               f"{ss[0].name}: {rate} Hz x {len(chans)}")
    for s in ss[1:]:
        if isinstance(s, SessionArrays):
            check(s)
    T = window_samples(window_ms, rate)
    if target not in TARGETS:
        raise DatasetError(f"target must be one of {TARGETS}, got {target!r}")
    Xs, ys, ts, fs, sis, names, ends, sigs, local_ends = [], [], [], [], [], [], [], [], []
    file_scales: dict = {}  # session index -> its block scales (file signal with session_norm)
    offset = 0
    target_names = None
    clean = {k: v for k, v in clean.items() if k != "counts"} if clean else None
    dropped = 0
    used_anchor = set()
    lag_used: list[float] = []
    for si in range(len(ss)):
        if not isinstance(ss[si], SessionArrays):
            ss[si] = read_session(ss[si], load_emg=False)
            check(ss[si])
        if signal == "file" and si > 0:
            ss[si - 1] = _slim(ss[si - 1])
        s = ss[si]
        mode = anchor
        if mode == "auto":
            mode = "frames" if len(s.frame_t) else "grid"
        if mode == "frames":
            if s.world is None or not len(s.frame_t):
                raise DatasetError(f"{s.name}: no video frames to anchor windows on (use anchor='grid')")
            Y = None
            if task == "pose":
                Y, tn = pose_targets(s, target, target_frame, clean)
                if target_names is not None and tn != target_names:
                    raise DatasetError(f"{s.name}: angle targets {tn} differ from {target_names} of the other sessions")
                target_names = tn
                has_hand = np.isfinite(Y).all(axis=1)
            else:
                has_hand = np.isfinite(s.world).all(axis=(1, 2))
            at = s.frame_t[has_hand]
            frame = np.flatnonzero(has_hand)
        elif mode == "grid":
            if task == "pose":
                raise DatasetError(f"{s.name}: the pose task needs frames with landmarks")
            if len(s.emg_t) == 0:
                raise DatasetError(f"{s.name}: no EMG samples")
            step = grid_step_ms * 1e-3
            at = np.arange(s.emg_t[0] + (T - 1) / rate, s.emg_t[-1] + 1e-9, step)
            frame = np.full(len(at), -1, dtype=np.int64)
        else:
            raise DatasetError(f"anchor must be 'auto', 'frames' or 'grid', got {anchor!r}")
        used_anchor.add(mode)
        if len(s.emg_t) < T:
            dropped += len(at)
            lag_used.append(0.0)
            continue
        from recorder.dataset.lag import session_lag_s
        if signal == "file" and lag == "auto" and mode == "frames" and not np.isfinite(s.lag_s):
            raise DatasetError(f"{s.name}: lag 'auto' estimates from the EMG, which stays in the file when "
                               f"streaming; store the lag first (emgrec lag --write) or use lag 'stored'")
        lag_used.append(session_lag_s(s, lag) if mode == "frames" else 0.0)
        end, ok = window_ends(s.emg_t, at - lag_used[-1], T, rate, s.gaps)
        sig = s.emg
        if sn is not None:
            ok &= end >= snorm.warmup_samples(sn, rate, T) - 1
            if signal == "file":  # the block scales only (small); FileWindows applies them on every read
                file_scales[si] = _file_scales(s.path, rate, sn)
            else:
                sig = snorm.scale_signal(s.emg, rate, sn)
        lab = labels_at(at, s.labels, background_label)
        if task == "gesture":
            ok &= np.array([n is not None for n in lab], dtype=bool)
            if transition_guard_ms is not None and s.labels:
                b = np.unique(np.array([[a, e] for a, e, _ in s.labels], dtype=np.float64).ravel())
                reach = (T - 1) / rate + transition_guard_ms * 1e-3
                # first boundary at or after t - reach; dropped if it is at or before t
                k = np.searchsorted(b, at - reach, side="left")
                ok &= ~((k < len(b)) & (b[np.clip(k, 0, len(b) - 1)] <= at))
        dropped += int((~ok).sum())
        end, at, frame = end[ok], at[ok], frame[ok]
        if materialise:
            Xs.append(gather_windows(sig, end, T))
        # Views index one signal: the sessions' signals end to end, each window inside its own.
        ends.append(end + offset)
        local_ends.append(end)
        sigs.append(sig)
        offset += len(s.emg)
        if task == "pose":
            ys.append(Y[frame])
        ts.append(at)
        fs.append(frame)
        sis.append(np.full(len(at), si, dtype=np.int64))
        names += [n for n, k in zip(lab, ok) if k]
    if signal == "file":
        ss[-1] = _slim(ss[-1])
    if not ts or sum(len(t) for t in ts) == 0:
        raise DatasetError(f"no usable windows in {', '.join(s.name for s in ss)} "
                           f"(task {task}, window {window_ms} ms, {dropped} dropped)")
    if class_names is None:
        class_names = sorted({n for n in names if n is not None})
    index = {n: i for i, n in enumerate(class_names)}
    label = np.array([index.get(n, -1) if n is not None else -1 for n in names], dtype=np.int64)
    if task == "gesture":
        unknown = label < 0
        if unknown.any():
            log.warning("%d windows carry labels outside the class list; dropped", int(unknown.sum()))
    if materialise:
        X = np.concatenate(Xs)
    elif signal == "file":
        X = FileWindows([s.path for s in ss], np.concatenate(local_ends), np.concatenate(sis), T, len(chans),
                        [len(s.emg) for s in ss], np.result_type(*[s.emg.dtype for s in ss]),
                        scales=[file_scales.get(i) for i in range(len(ss))] if sn is not None else None)
    else:
        kind = np.result_type(*[g.dtype for g in sigs])
        signal = sigs[0] if len(sigs) == 1 else np.concatenate([g.astype(kind, copy=False) for g in sigs])
        X = WindowView(signal, np.concatenate(ends), T)
    ws = WindowSet(
        X=X, y=np.concatenate(ys) if ys else None, label=label, t=np.concatenate(ts),
        frame=np.concatenate(fs), session=np.concatenate(sis),
        sessions=[{"name": s.name, "path": s.path, "sha256": s.sha256,
                   "duration_s": float(s.emg_t[-1] - s.emg_t[0]) if len(s.emg_t) else 0.0,
                   "lag_s": lg} for s, lg in zip(ss, lag_used)],
        class_names=list(class_names), sample_rate_hz=rate, channel_names=list(chans), window_n=T,
        anchor="+".join(sorted(used_anchor)), dropped=dropped, target=target if task == "pose" else "landmarks",
        target_names=target_names, clean_counts=(clean or {}).get("counts"), session_norm=sn)
    if task == "gesture" and (label < 0).any():
        ws = ws.subset(np.flatnonzero(label >= 0))
        ws.dropped = dropped + int((label < 0).sum())
    return ws


def _file_scales(path: str, rate: float, sn: dict) -> tuple[np.ndarray, int]:
    """(block scales, block length) of a session file's EMG, read a bounded piece at a time."""
    from recorder.session.format import SessionReader
    n = snorm.block_samples(sn, rate)
    with SessionReader(path) as r:
        rms = snorm.block_rms(r.emg_data, n)
    return snorm.block_scales(None, rate, sn, rms=rms)


def _slim(s: SessionArrays) -> SessionArrays:
    """What build_windows keeps of a session once its windows are indexed (file mode): name, path,
    hash, the stand-in signal (its shape) and the first and last sample time (duration)."""
    import dataclasses
    return dataclasses.replace(s, emg_t=s.emg_t[[0, -1]] if len(s.emg_t) else s.emg_t, frame_t=np.zeros(0),
                               world=None, labels=[], angles=None, score=None, handedness=None)


# -- splits ------------------------------------------------------------------------------------------
def _intervals_select(t: np.ndarray, intervals: list[list[float]]) -> np.ndarray:
    m = np.zeros(len(t), dtype=bool)
    for a, b in intervals:
        m |= (t >= a) & (t < b)
    return m


def make_split(ws: WindowSet, mode: str = "time", val_fraction: float = 0.15, test_fraction: float = 0.15,
               extra_gap_s: float = 0.0, n_blocks: int = 5, val_block: int = -1, test_block: int | None = None,
               val_sessions: Sequence[int | str] | None = None,
               test_sessions: Sequence[int | str] | None = None) -> dict:
    """A JSON-able split: {"mode", "gap_s", "sessions": [{name, sha256, train|val|test: [[t0, t1), ...]}]}.

    mode "time": in every session, the last ``test_fraction`` of the anchor time span is test, the
      ``val_fraction`` before it val, the rest train.
    mode "blocks": every session cut into ``n_blocks`` equal time blocks; block ``val_block`` is val,
      ``test_block`` (optional) test, the others train (k-fold cross-validation over val_block).
    mode "session": whole sessions (indices or names); default the last session is val (with >= 3
      sessions and test_fraction > 0: the second-last val and the last test).
    mode "cross" (several sessions): the last session is test as a whole (a new session); in the
      others the last ``val_fraction`` of the time span is val (within-session), the rest train.
    Between parts a gap of one window length + extra_gap_s is left out, so no two parts share EMG.
    """
    if mode == "cross":
        if len(ws.sessions) < 2:
            raise DatasetError("a cross-session split needs at least 2 sessions")
        sp = make_split(ws, "time", val_fraction=val_fraction, test_fraction=0.0, extra_gap_s=extra_gap_s)
        last = sp["sessions"][-1]
        last.update(train=[], val=[], test=[[-np.inf, np.inf]])
        sp["mode"] = "cross"
        return sp
    gap = ws.window_s + float(extra_gap_s)
    entries = []
    n_s = len(ws.sessions)
    if mode == "session":
        def resolve(sel):
            out = set()
            for v in sel or []:
                if isinstance(v, str):
                    hits = [i for i, s in enumerate(ws.sessions) if s["name"] == v or s["path"] == v]
                    if not hits:
                        raise DatasetError(f"split: no session named {v!r}")
                    out.update(hits)
                else:
                    out.add(int(v) % n_s)
            return out
        if val_sessions is None and test_sessions is None:
            if n_s < 2:
                raise DatasetError("a split by session needs at least 2 sessions")
            val_set, test_set = ({n_s - 2}, {n_s - 1}) if (n_s >= 3 and test_fraction > 0) else ({n_s - 1}, set())
        else:
            val_set, test_set = resolve(val_sessions), resolve(test_sessions)
        for i, s in enumerate(ws.sessions):
            part = "test" if i in test_set else "val" if i in val_set else "train"
            e = {"name": s["name"], "sha256": s["sha256"], "train": [], "val": [], "test": []}
            e[part] = [[-np.inf, np.inf]]
            entries.append(e)
    elif mode in ("time", "blocks"):
        for i, s in enumerate(ws.sessions):
            t = ws.t[ws.session == i]
            e = {"name": s["name"], "sha256": s["sha256"], "train": [], "val": [], "test": []}
            if len(t) == 0:
                entries.append(e)
                continue
            a, b = float(t.min()), float(t.max()) + 1e-6
            span = b - a
            if mode == "time":
                if not (0 < val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
                    raise DatasetError(f"bad split fractions val={val_fraction}, test={test_fraction}")
                c1 = a + (1 - val_fraction - test_fraction) * span
                c2 = a + (1 - test_fraction) * span
                blocks = [("train", a, c1), ("val", c1, c2)] + ([("test", c2, b)] if test_fraction > 0 else [])
            else:
                edges = a + span * np.arange(n_blocks + 1) / n_blocks
                vb = val_block % n_blocks
                tb = None if test_block is None else test_block % n_blocks
                if vb == tb:
                    raise DatasetError("val_block and test_block must differ")
                blocks = [("val" if k == vb else "test" if k == tb else "train", float(edges[k]), float(edges[k + 1]))
                          for k in range(n_blocks)]
            # A block loses its first `gap` seconds when the block before it belongs to another part,
            # so the windows (which reach `window_s` back) of different parts never share samples.
            for k, (part, lo, hi) in enumerate(blocks):
                if k > 0 and blocks[k - 1][0] != part:
                    lo = lo + gap
                if lo < hi:
                    e[part].append([lo, hi])
            entries.append(e)
    else:
        raise DatasetError(f"split mode must be 'time', 'blocks' or 'session', got {mode!r}")
    return {"mode": mode, "gap_s": gap, "sessions": entries}


def split_indices(ws: WindowSet, split: dict, part: str, strict: bool = True) -> np.ndarray:
    """Indices (into ws) of the windows in ``part`` of a stored split. Sessions are matched by
    content hash, then by name. Sessions the split does not know are left out when strict,
    counted entirely as ``part`` otherwise."""
    if part not in PARTS:
        raise DatasetError(f"part must be one of {PARTS}, got {part!r}")
    by_hash = {e["sha256"]: e for e in split["sessions"]}
    by_name = {e["name"]: e for e in split["sessions"]}
    mask = np.zeros(len(ws), dtype=bool)
    for i, s in enumerate(ws.sessions):
        e = by_hash.get(s["sha256"]) or by_name.get(s["name"])
        sel = ws.session == i
        if e is None:
            if not strict:
                mask |= sel
            continue
        mask |= sel & _intervals_select(ws.t, [[float(a), float(b)] for a, b in e[part]])
    return np.flatnonzero(mask)


def split_to_json(split: dict) -> dict:
    """Infinite bounds (session splits) as strings, so the split is strict JSON."""
    def conv(v):
        return "inf" if v == np.inf else "-inf" if v == -np.inf else v
    return {**split, "sessions": [{**e, **{p: [[conv(a), conv(b)] for a, b in e[p]] for p in PARTS}}
                                  for e in split["sessions"]]}


def split_from_json(split: dict) -> dict:
    return {**split, "sessions": [{**e, **{p: [[float(a), float(b)] for a, b in e[p]] for p in PARTS}}
                                  for e in split["sessions"]]}


# -- normalisation -----------------------------------------------------------------------------------
def fit_channel_norm(X: np.ndarray | WindowView, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (C,) of raw units over windows X (M, T, C) (rows ``idx`` only: fit
    on the training split). Dead channels (std ~ 0) get std 1 so they pass through as zeros.
    For a WindowView the same statistics come from the signal, each sample weighted by how many of
    the windows hold it (float64, in row chunks; equal to the array path to rounding)."""
    if isinstance(X, LAZY_WINDOWS):
        v = X if idx is None else X.take(idx)
        w, sx = norm_sums(v)
        if w == 0:
            raise DatasetError("no windows to fit the normalisation on")
        mean = sx / w
        std = np.sqrt(norm_sums(v, mean)[1] / w)
        std[std < 1e-6] = 1.0
        return mean.astype(np.float32), std.astype(np.float32)
    Xs = X if idx is None else X[idx]
    flat = Xs.reshape(-1, Xs.shape[-1]).astype(np.float64)
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)
    std[std < 1e-6] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def fit_target_norm(y: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-coordinate mean and std (63,) of training targets (mm); the wrist (always 0) gets std 1."""
    yt = y[idx].astype(np.float64)
    mean, std = yt.mean(axis=0), yt.std(axis=0)
    std[std < 1e-6] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)



def norm_sums(v: WindowView | FileWindows, mean: np.ndarray | None = None,
              rows: int = 1 << 16) -> tuple[float, np.ndarray]:
    """(W, S): the number of window samples W and, per channel (C,), the sum S of x (mean None) or
    of (x - mean)^2 over every sample of every window of ``v``, float64. Computed from the signal:
    sample i counts as often as windows hold it, so the sums equal those over the (M, T, C) array
    (to rounding). Read in row chunks (files: the sessions one at a time); sums of several ranks'
    windows add up (distributed normalisation)."""
    T = v.window_n
    if isinstance(v, WindowView):
        parts = [(len(v.signal), v.end, lambda a, b: v.signal[a:b])]
    else:
        parts = [(v.rows[si], v.end[v.session == si], (lambda a, b, si=si: v.read(si, a, b)))
                 for si in np.unique(v.session)]
    total, acc = 0.0, np.zeros(v.shape[2], np.float64)
    for n, end, read in parts:
        # weight[i] = number of windows [end - T + 1, end] holding sample i (difference array)
        w = np.cumsum(np.bincount(end - (T - 1), minlength=n + 1) - np.bincount(end + 1, minlength=n + 1))[:n]
        total += float(w.sum())
        nz = np.flatnonzero(np.diff(np.concatenate([[0], (w > 0).astype(np.int8), [0]])))
        for a, b in zip(nz[::2], nz[1::2]):  # runs of held samples only
            for i in range(a, b, rows):
                j = min(b, i + rows)
                x = np.asarray(read(i, j), dtype=np.float64)
                acc += w[i:j].astype(np.float64) @ (x if mean is None else np.square(x - mean))
    return total, acc
