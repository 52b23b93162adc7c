"""EMG-to-video lag: how long after the EMG the landmarks show the movement it drove.

Two delays add up (see docs/models.md): the electromechanical delay (muscle electrical activity
precedes force and movement by roughly 30-100 ms) and the camera's latency (exposure, transfer,
buffering and landmark detection make a frame's time stamp 30-120 ms later than the moment it
shows, with jitter). A frame stamped ``s`` is therefore best explained by the EMG up to ``s - lag``.

Estimate (:func:`estimate_lag`): a linear model predicts the EMG amplitude envelope from the pose
(targets, their velocity and speed) on the frames; it is refitted for every candidate lag on a grid
and the lag whose envelope it explains best (highest R^2) wins, refined to a fraction of the grid step
by a parabola through the best point and its neighbours. The features stay the same at every lag, so
one matrix factorisation serves the whole grid (a second or two for an hour of frames). The
envelope and the pose are smoothed with *centred* windows, so smoothing adds no delay of its own. The R^2 curve
is flat near its top, so the lag is the vertex of a parabola fitted over +-40 ms around the best
grid point.

Stored in the session file as root attributes ``emg_video_lag_s`` (float seconds) and
``emg_video_lag_method`` (text); see docs/session-format.md. Applied when building windows: the window
of the frame stamped ``s`` ends at the last EMG sample at or before ``s - lag``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import EmgrecError, UsageError

LAG_ATTR = "emg_video_lag_s"
LAG_METHOD_ATTR = "emg_video_lag_method"
METHOD = "ridge pose->EMG-envelope R^2 over a lag grid (recorder.lag)"


class LagError(EmgrecError, ValueError):
    """Too little data to estimate a lag; the message names the session."""


def envelope(emg: np.ndarray, sample_rate_hz: float, smooth_s: float = 0.05) -> np.ndarray:
    """(N, C) amplitude envelope: sqrt of the centred moving mean of the squared, mean-removed EMG."""
    x = np.asarray(emg, np.float64)
    x = x - x.mean(axis=0)
    k = max(1, int(round(smooth_s * sample_rate_hz)) | 1)  # odd length: centred, no delay
    return np.sqrt(_movmean(x ** 2, k))


def _movmean(x: np.ndarray, k: int) -> np.ndarray:
    """Centred moving mean over k (odd) rows of x (N, D), shrinking at the ends."""
    half = k // 2
    c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x]), axis=0)
    lo = np.clip(np.arange(len(x)) - half, 0, len(x))
    hi = np.clip(np.arange(len(x)) + half + 1, 0, len(x))
    return (c[hi] - c[lo]) / (hi - lo)[:, None]


def _pose_features(frame_t: np.ndarray, y: np.ndarray, smooth_frames: int = 9) -> np.ndarray:
    """(F, 3 D + 1) features of targets y (F, D) at frame_t: value, velocity, speed and 1.

    The targets are smoothed over ``smooth_frames`` (centred) first: with MediaPipe-like landmark
    noise (3 mm) an unsmoothed velocity is mostly noise, and a model that cannot see the velocity
    explains the EMG's movement bursts (which lead the position) with a later pose, i.e. a longer
    lag. Measured on the realistic synthetic subject (10 min sessions): 5 frames gave errors of
    -11..+40 ms, 9 frames -8..-3 ms. Joint angles as features did worse under landmark noise."""
    a = np.asarray(y, np.float64)
    if smooth_frames > 1:
        a = _movmean(a, smooth_frames | 1)
    v = np.gradient(a, frame_t, axis=0)
    return np.hstack([a, v, np.abs(v), np.ones((len(a), 1))])


def lag_curve(emg_t: np.ndarray, emg: np.ndarray, sample_rate_hz: float, frame_t: np.ndarray, y: np.ndarray,
              lags_s: np.ndarray, alpha: float = 1.0, highpass_s: float | None = None) -> np.ndarray:
    """R^2 (len(lags_s),) of the envelope predicted from the pose at each candidate lag (seconds).

    emg_t (N,) s, emg (N, C) raw; frame_t (F,) s, y (F, D) targets (mm or degrees; NaN rows skipped).
    """
    frame_t = np.asarray(frame_t, np.float64)
    y = np.asarray(y, np.float64).reshape(len(frame_t), -1)
    ok = np.isfinite(y).all(axis=1)
    frame_t, y = frame_t[ok], y[ok]
    # Frames whose shifted time falls outside the EMG for any lag are left out, so every lag is
    # scored on the same frames.
    inside = (frame_t - lags_s.max() >= emg_t[0]) & (frame_t - lags_s.min() <= emg_t[-1])
    if inside.sum() < 100:
        return np.full(len(lags_s), np.nan)
    F = _pose_features(frame_t, y)
    # Optionally both sides high-passed (minus a centred moving mean of highpass_s), which weighs
    # movement onsets over holds; measured on the synthetic subject it added variance, so off by default.
    Fh = F.copy()
    if highpass_s:
        Fh[:, :-1] -= _movmean(F[:, :-1], max(3, int(round(highpass_s / np.median(np.diff(frame_t)))) | 1))
    # Wrong-hand frames (far from both neighbours, which agree) and lost-hand gaps make velocity
    # spikes that would dominate a least-squares fit: leave those frames out with their neighbours.
    spike = np.zeros(len(y))
    spike[1:-1] = np.linalg.norm(y[1:-1] - 0.5 * (y[:-2] + y[2:]), axis=1)
    step = np.linalg.norm(y[2:] - y[:-2], axis=1)
    bad = spike > 4.0 * np.percentile(step, 95) + 1e-9
    dt = np.diff(frame_t)
    bad[1:] |= dt > 2.5 * np.median(dt)
    bad[:-1] |= dt > 2.5 * np.median(dt)
    bad = bad | np.r_[False, bad[:-1]] | np.r_[bad[1:], False]
    keep = inside & ~bad
    if keep.sum() < 100:
        return np.full(len(lags_s), np.nan)
    F = Fh[keep]
    ft = frame_t[keep]
    mu, sd = F[:, :-1].mean(0), F[:, :-1].std(0)
    sd[sd < 1e-9] = 1.0
    F[:, :-1] = (F[:, :-1] - mu) / sd
    G = F.T @ F + alpha * np.eye(F.shape[1])
    P = np.linalg.solve(G, F.T)  # (K, F): ridge coefficients = P @ targets
    env = envelope(emg, sample_rate_hz)
    if highpass_s:
        env = env - _movmean(env, max(3, int(round(highpass_s * sample_rate_hz)) | 1))
    out = np.empty(len(lags_s))
    for i, L in enumerate(lags_s):
        E = np.column_stack([np.interp(ft - L, emg_t, env[:, c]) for c in range(env.shape[1])])
        res = E - F @ (P @ E)
        tot = ((E - E.mean(0)) ** 2).sum()
        out[i] = 1.0 - (res ** 2).sum() / tot if tot > 0 else np.nan
    return out


def estimate_lag(emg_t: np.ndarray, emg: np.ndarray, sample_rate_hz: float, frame_t: np.ndarray, y: np.ndarray,
                 min_s: float = -0.1, max_s: float = 0.4, step_s: float = 0.005, refine_s: float = 0.04,
                 name: str = "session") -> dict:
    """Best lag (s) over [min_s, max_s]: {"lag_s", "r2", "r2_at_zero", "method", "lags_s", "curve"}.

    Raises LagError when the frames with a pose cover too little EMG (under 100 frames)."""
    lags = np.arange(min_s, max_s + step_s / 2, step_s)
    curve = lag_curve(emg_t, emg, sample_rate_hz, frame_t, y, lags)
    if not np.isfinite(curve).any():
        raise LagError(f"{name}: too few frames with a pose inside the EMG to estimate the EMG-to-video lag")
    # The curve is flat near its top and noisy (R^2 moves by ~1e-3 over tens of ms), so the peak is
    # the vertex of a parabola fitted over +-refine_s around the best grid point, not the grid point.
    k = int(np.nanargmax(curve))
    lag = float(lags[k])
    m = (np.abs(lags - lag) <= refine_s + 1e-9) & np.isfinite(curve)
    if m.sum() >= 5:
        p = np.polyfit(lags[m] - lag, curve[m], 2)
        if p[0] < 0:
            lag += float(np.clip(-p[1] / (2 * p[0]), -refine_s, refine_s))
    z = int(np.argmin(np.abs(lags)))
    return {"lag_s": lag, "r2": float(curve[k]), "r2_at_zero": float(curve[z]), "method": METHOD,
            "lags_s": lags.tolist(), "curve": curve.tolist()}


def estimate_session_lag(s, target_frame: str = "wrist") -> dict:
    """:func:`estimate_lag` for a :class:`~recorder.dataset.SessionArrays` with world landmarks."""
    if s.world is None or not len(s.frame_t):
        raise LagError(f"{s.name}: no frames with landmarks to estimate the EMG-to-video lag from")
    w = s.world.astype(np.float64)
    y = (w - w[:, :1]).reshape(len(w), -1)
    return estimate_lag(s.emg_t, s.emg, s.sample_rate_hz, s.frame_t, y, name=s.name)


def read_lag(path: str | Path) -> float | None:
    """The lag stored in a session file (s), or None when none is stored."""
    from .session import SessionReader
    with SessionReader(path) as r:  # the hardened reader: crashed, damaged or crafted files are refused
        v = r.attrs.get(LAG_ATTR)
    return None if v is None else float(v)


def write_lag(path: str | Path, lag_s: float, method: str = METHOD) -> None:
    """Store a lag in a (closed) session file's root attributes; the only change made to the file."""
    import h5py
    from .session import LIBVER
    from .writelock import WriteLock
    lock = WriteLock(path, "a lag update").acquire("store the lag in it")  # one writer per session
    try:
        with h5py.File(path, "r+", libver=LIBVER) as f:
            f.attrs[LAG_ATTR] = float(lag_s)
            f.attrs[LAG_METHOD_ATTR] = str(method)
    except OSError as e:
        raise OSError(f"{path}: cannot store the EMG-to-video lag: {e}") from e
    finally:
        lock.release()


def session_lag_s(s, lag: str | float | None) -> float:
    """The lag (s) to apply to session ``s`` (SessionArrays) for a ``lag`` setting: None / "none" -> 0;
    "stored" -> the stored lag, else 0; "auto" -> the stored lag, else estimated from the session
    (not written back: use ``emgrec lag --write`` for that); a number -> that many ms."""
    if lag is None or lag == "none":
        return 0.0
    if lag in ("stored", "auto"):
        if np.isfinite(getattr(s, "lag_s", np.nan)):
            return float(s.lag_s)
        if lag == "stored":
            return 0.0
        est = estimate_session_lag(s)["lag_s"]
        s.lag_s = est  # once per session object: sweeps and evaluations reuse it
        return est
    if isinstance(lag, (int, float)) and not isinstance(lag, bool):
        return float(lag) * 1e-3
    raise UsageError(f"lag must be None, 'none', 'stored', 'auto' or a number of ms, got {lag!r}")
