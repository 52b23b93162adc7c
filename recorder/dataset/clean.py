"""Clean pose labels before they become training targets (issue 10).

MediaPipe makes mistakes that a model would learn: low-score frames, bones whose length is far from
the session's own median, jumps faster than a finger moves, the wrong hand, and 0 / 180 degree
angle glitches. :func:`clean_mask` marks such frames (one bit per rule; thresholds in
:data:`DEFAULTS`) and counts how many each rule removed; :func:`smooth` optionally smooths the
remaining targets in time with a Savitzky-Golay filter (scipy) over runs of good frames.
"""

from __future__ import annotations

import numpy as np

from recorder.core.errors import UsageError

#: Rule -> bit in the mask.
RULES = {"low_score": 1, "bone_length": 2, "too_fast": 4, "wrong_hand": 8, "angle_glitch": 16}

#: Thresholds (``data.clean`` in a training config; ``--set data.clean.KEY=V``).
DEFAULTS: dict = {
    "enabled": False,
    "min_score": 0.5,             # landmarks: hand presence score below this is dropped
    "bone_tolerance": 0.4,        # landmarks: a bone more than 40 % off the session median length
    "max_speed_mm_s": 4000.0,     # landmarks: a fingertip (wrist-relative) moving faster, in and out
    "max_speed_deg_s": 1000.0,    # angles: an angle changing faster, in and out (an isolated spike)
    "angle_min_deg": 1.0,         # imported angles: at or below this is a glitch (JHU: 0 / 180 failures)
    "angle_max_deg": 179.5,       # ... at or above this
    "hand": "",                   # "Left"/"Right"; "" = the session's majority handedness
    "smooth_frames": 0,           # Savitzky-Golay window (odd, frames); 0 = no smoothing
    "smooth_order": 2,
}

#: Bones checked for length: (parent, child) landmark pairs along each finger.
BONES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
         (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]
TIPS = [4, 8, 12, 16, 20]


def _spikes(v: np.ndarray, t: np.ndarray, limit: float) -> np.ndarray:
    """(F,) bool: frames reached and left faster than ``limit`` (units/s, max over columns) from
    their finite neighbours: an isolated jump out and back, not a fast movement that stays."""
    F = len(v)
    out = np.zeros(F, bool)
    ok = np.flatnonzero(np.isfinite(v).all(axis=1))
    if len(ok) < 3:
        return out
    vv, tt = v[ok], t[ok]
    dt = np.diff(tt)
    with np.errstate(divide="ignore", invalid="ignore"):
        sp = np.abs(np.diff(vv, axis=0)).max(axis=1) / np.where(dt > 0, dt, np.nan)
    fast = np.nan_to_num(sp, nan=np.inf) > limit
    out[ok[1:-1][fast[:-1] & fast[1:]]] = True
    return out


def clean_mask(frame_t: np.ndarray, world: np.ndarray | None = None, score: np.ndarray | None = None,
               handedness: np.ndarray | None = None, angles: np.ndarray | None = None,
               config: dict | None = None) -> tuple[np.ndarray, dict]:
    """Mask of frames whose pose should not be a target.

    frame_t (F,) s; world (F, 21, 3) mm or None; score (F,); handedness (F,) str "Left"/"Right"/"";
    angles (F, K) degrees of an imported source or None. Returns ((F,) uint8 OR of :data:`RULES`
    bits, 0 = good; {rule: frames it flagged, "frames": F, "removed": frames flagged by any rule}).
    Frames without a pose at all (NaN) are not counted by any rule."""
    c = {**DEFAULTS, **(config or {})}
    F = len(frame_t)
    m = np.zeros(F, np.uint8)
    if world is not None and len(world):
        w = np.asarray(world, np.float64)
        has = np.isfinite(w).all(axis=(1, 2))
        if score is not None:
            s = np.asarray(score, np.float64)
            m[has & (s < c["min_score"])] |= RULES["low_score"]
        if has.any():
            bl = np.stack([np.linalg.norm(w[:, b] - w[:, a], axis=-1) for a, b in BONES], axis=1)  # (F, 20)
            med = np.nanmedian(bl[has], axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                off = np.abs(bl / med - 1.0)
            m[has & (np.nan_to_num(off, nan=0.0) > c["bone_tolerance"]).any(axis=1)] |= RULES["bone_length"]
            rel = (w[:, TIPS] - w[:, :1]).reshape(F, -1)
            # Speed of the fastest tip coordinate; a Euclidean speed is at most sqrt(3) x this.
            m[_spikes(np.where(has[:, None], rel, np.nan), frame_t, c["max_speed_mm_s"])] |= RULES["too_fast"]
        if handedness is not None and has.any():
            hd = np.asarray(handedness).astype(str)
            want = c["hand"]
            if not want:
                vals, counts = np.unique(hd[has & (hd != "")], return_counts=True)
                want = str(vals[counts.argmax()]) if len(vals) else ""
            if want:
                m[has & (hd != "") & (hd != want)] |= RULES["wrong_hand"]
    if angles is not None and len(angles):
        a = np.asarray(angles, np.float64)
        fin = np.isfinite(a).all(axis=1)
        m[fin & ((a <= c["angle_min_deg"]) | (a >= c["angle_max_deg"])).any(axis=1)] |= RULES["angle_glitch"]
        m[_spikes(np.where(fin[:, None], a, np.nan), frame_t, c["max_speed_deg_s"])] |= RULES["too_fast"]
    counts = {r: int(((m & bit) > 0).sum()) for r, bit in RULES.items()}
    counts["frames"] = int(F)
    counts["removed"] = int((m > 0).sum())
    return m, counts


def smooth(y: np.ndarray, good: np.ndarray, frames: int, order: int = 2) -> np.ndarray:
    """Savitzky-Golay smoothing of targets y (F, K) along time, separately over each run of
    consecutive good frames at least ``frames`` long (shorter runs are left as they are)."""
    from scipy.signal import savgol_filter
    if frames < 3 or frames % 2 == 0:
        raise UsageError(f"smooth_frames must be an odd number >= 3, got {frames}")
    y = np.array(y, dtype=np.float32, copy=True)
    g = np.asarray(good, bool)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], g.astype(np.int8), [0]))))
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a >= frames:
            y[a:b] = savgol_filter(y[a:b], frames, order, axis=0)
    return y
