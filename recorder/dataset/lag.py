"""EMG-to-video lag: how long after the EMG the landmarks show the movement it drove.

Two delays add up (see docs/models.md): the electromechanical delay (muscle electrical activity
precedes force and movement by roughly 30-100 ms) and the camera's latency (exposure, transfer,
buffering and landmark detection make a frame's time stamp 30-120 ms later than the moment it
shows, with jitter). A frame stamped ``s`` is therefore best explained by the EMG up to ``s - lag``.

Estimate (:func:`estimate_lag`): a linear model predicts the EMG amplitude envelope from the pose
(principal components, finger flexion proxies, their hinges and signed velocities: see
:func:`_pose_features`) on the frames; it is refitted for every candidate lag on a grid
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

from recorder.core.errors import EmgrecError, UsageError

LAG_ATTR = "emg_video_lag_s"
LAG_METHOD_ATTR = "emg_video_lag_method"
METHOD = "ridge pose->EMG-envelope R^2 over a lag grid, flexion/hinge features (recorder.dataset.lag)"


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


#: MediaPipe indices of each finger's base (thumb: CMC) and tip, for the flexion proxies.
_BASE, _TIP = (1, 5, 9, 13, 17), (4, 8, 12, 16, 20)


def _flexion(y: np.ndarray) -> np.ndarray:
    """(F, 5) flexion proxy per finger (rad) from wrist-relative landmarks y (F, 63): the angle
    between the wrist->base direction and the base->tip chord. Nearly linear in how far a finger
    curls, mirror-invariant, and its chord (60-90 mm) keeps 3 mm landmark noise to ~2 degrees."""
    w = y.reshape(len(y), 21, 3)
    a, b = w[:, _BASE], w[:, _TIP] - w[:, _BASE]
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-9)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _pose_features(frame_t: np.ndarray, y: np.ndarray, smooth_frames: int = 5, n_comp: int = 10,
                   knots: tuple = (10, 30, 50, 70, 90)) -> np.ndarray:
    """(F, K) features of targets y (F, D) at frame_t for the pose->envelope model, last column 1.

    The envelope of a muscle is (roughly) a hinge of how far its finger is held from rest plus a
    burst while it moves that way, so the features are: the first ``n_comp`` principal components
    of the pose (the projection also averages out most landmark noise) and, for 21 landmarks, the
    five finger flexion proxies of :func:`_flexion` (other targets: the components again); hinges of
    both at the ``knots`` percentiles; and the positive and negative parts of the proxies' velocity.
    Everything is smoothed over ``smooth_frames`` (centred, so no delay).

    Why (measured, 10 min sessions of the realistic subject, 6 sessions): a model that cannot
    express the EMG's shape shifts the lag to compensate. Landmark value/velocity/speed features
    (the first version) erred -15..+9 ms and their bias moved with the smoothing (3 frames: +12 ms
    mean, 9 frames: -3 ms); these erred -1..+6 ms (within 1.5 ms without landmark noise and drifts)."""
    a = np.asarray(y, np.float64)
    a0 = a - a.mean(axis=0)
    _, _, vt = np.linalg.svd(a0[::3], full_matrices=False)
    z = a0 @ vt[:n_comp].T
    g = _flexion(a) if a.shape[1] == 63 else z.copy()
    if smooth_frames > 1:
        z, g = _movmean(z, smooth_frames | 1), _movmean(g, smooth_frames | 1)
    v = np.gradient(g, frame_t, axis=0)
    cols = [z, g, np.clip(v, 0, None), np.clip(-v, 0, None)]
    for q in knots:
        cols += [np.clip(z - np.percentile(z, q, axis=0), 0, None), np.clip(g - np.percentile(g, q, axis=0), 0, None)]
    return np.hstack(cols + [np.ones((len(a), 1))])


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
    FtF = F.T @ F
    Gi = np.linalg.inv(FtF + alpha * np.eye(F.shape[1]))
    # With B = F^T E the ridge residual is ||E||^2 - 2 tr(B^T Gi B) + tr(B^T Gi FtF Gi B): one
    # (K, F) x (F, C) product per lag instead of two.
    M2 = Gi @ FtF @ Gi
    env = envelope(emg, sample_rate_hz)
    if highpass_s:
        env = env - _movmean(env, max(3, int(round(highpass_s * sample_rate_hz)) | 1))
    out = np.empty(len(lags_s))
    for i, L in enumerate(lags_s):
        E = np.column_stack([np.interp(ft - L, emg_t, env[:, c]) for c in range(env.shape[1])])
        B = F.T @ E
        rss = (E ** 2).sum() - 2.0 * (B * (Gi @ B)).sum() + (B * (M2 @ B)).sum()
        tot = ((E - E.mean(0)) ** 2).sum()
        out[i] = 1.0 - rss / tot if tot > 0 else np.nan
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
    """:func:`estimate_lag` for a :class:`~recorder.dataset.windows.SessionArrays` with world landmarks."""
    if s.world is None or not len(s.frame_t):
        raise LagError(f"{s.name}: no frames with landmarks to estimate the EMG-to-video lag from")
    w = s.world.astype(np.float64)
    y = (w - w[:, :1]).reshape(len(w), -1)
    return estimate_lag(s.emg_t, s.emg, s.sample_rate_hz, s.frame_t, y, name=s.name)


def read_lag(path: str | Path) -> float | None:
    """The lag stored in a session file (s), or None when none is stored."""
    from recorder.session.format import SessionReader
    with SessionReader(path) as r:  # the hardened reader: crashed, damaged or crafted files are refused
        v = r.attrs.get(LAG_ATTR)
    return None if v is None else float(v)


def write_lag(path: str | Path, lag_s: float, method: str = METHOD) -> None:
    """Store a lag in a (closed) session file's root attributes; the only change made to the file."""
    import h5py
    from recorder.session.format import LIBVER, set_root_attrs
    from recorder.session.writelock import WriteLock
    lock = WriteLock(path, "a lag update").acquire("store the lag in it")  # one writer per session
    try:
        with h5py.File(path, "r+", libver=LIBVER) as f:
            set_root_attrs(f, {LAG_ATTR: float(lag_s), LAG_METHOD_ATTR: str(method)})
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
