"""EMG-to-video lag: how long after the EMG the landmarks show the movement it drove.

Two delays add up (see docs/models.md): the electromechanical delay (muscle electrical activity
precedes force and movement by roughly 30-100 ms) and the camera's latency (exposure, transfer,
buffering and landmark detection make a frame's time stamp 30-120 ms later than the moment it
shows, with jitter). A frame stamped ``s`` is therefore best explained by the EMG up to ``s - lag``.

Estimate (:func:`estimate_lag`): a linear model predicts the log of the EMG amplitude envelope
from the pose (principal components, finger flexion proxies, their hinges and signed velocities:
see :func:`_pose_features`) on the frames; it is refitted for every candidate lag on a grid and
the lag whose envelope it explains best (highest R^2) wins, refined below the grid step by the
maximum of a cubic fitted over +-60 ms around the best grid point (the curve is flat, bumpy and
skewed near its top). The features stay the same at every lag, and the fit only needs per-segment
sums, so the whole grid costs one pass over the frames, and a bootstrap over 10 s segments
(resampling the sums, not the frames) gives a 95 % interval: wider than 25 ms, the lag is reported
as not to be trusted (a session too short, or a pose that does not follow the EMG). The envelope
and the pose are smoothed with *centred* windows, so smoothing adds no delay of its own.

Stored in the session file as root attributes ``emg_video_lag_s`` (float seconds),
``emg_video_lag_method`` (text) and ``emg_video_lag_ci_s`` (the interval, 2 floats, s); see
docs/session-format.md. Applied when building windows: the window
of the frame stamped ``s`` ends at the last EMG sample at or before ``s - lag``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recorder.core.errors import EmgrecError, UsageError

LAG_ATTR = "emg_video_lag_s"
LAG_METHOD_ATTR = "emg_video_lag_method"
LAG_CI_ATTR = "emg_video_lag_ci_s"
METHOD = ("ridge pose->log EMG envelope R^2 over a lag grid, flexion/hinge features, cubic peak, "
          "10 s segment bootstrap (recorder.dataset.lag)")


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


def _lag_stats(emg_t: np.ndarray, emg: np.ndarray, sample_rate_hz: float, frame_t: np.ndarray, y: np.ndarray,
               lags_s: np.ndarray, highpass_s: float | None = None, block_s: float = 10.0,
               max_blocks: int = 60) -> dict | None:
    """Per-block sufficient statistics of the pose->envelope ridge at every candidate lag, or None
    when fewer than 100 usable frames. The frames are cut into contiguous blocks of ``block_s``
    (longer when there would be more than ``max_blocks``), so that any weighting of the blocks (all
    ones: the whole session; a bootstrap resample) gives its R^2 curve without touching the frames.

    Returns {"FtF" (B, K, K), "FtE" (B, L, K, C), "E2" (B, L), "Es" (B, L, C), "n" (B,), "span_s"}."""
    frame_t = np.asarray(frame_t, np.float64)
    y = np.asarray(y, np.float64).reshape(len(frame_t), -1)
    ok = np.isfinite(y).all(axis=1)
    frame_t, y = frame_t[ok], y[ok]
    # Frames whose shifted time falls outside the EMG for any lag are left out, so every lag is
    # scored on the same frames.
    inside = (frame_t - lags_s.max() >= emg_t[0]) & (frame_t - lags_s.min() <= emg_t[-1])
    if inside.sum() < 100:
        return None
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
        return None
    F = Fh[keep]
    ft = frame_t[keep]
    mu, sd = F[:, :-1].mean(0), F[:, :-1].std(0)
    sd[sd < 1e-9] = 1.0
    F[:, :-1] = (F[:, :-1] - mu) / sd
    # The log of the envelope: a moving RMS of EMG has a spread proportional to its level, so a
    # least-squares fit of the envelope itself is ruled by the noise of the strongest bursts; its
    # log has the same spread at every level (measured: half the error on 2-min sessions, see
    # docs/models.md). The floor keeps a silent channel finite.
    env = envelope(emg, sample_rate_hz)
    env = np.log(env + 1e-3 * float(env.mean()) + 1e-12)
    if highpass_s:
        env = env - _movmean(env, max(3, int(round(highpass_s * sample_rate_hz)) | 1))
    span = float(ft[-1] - ft[0])
    blk = np.minimum(((ft - ft[0]) // max(block_s, span / max_blocks + 1e-9)).astype(int), max_blocks - 1)
    nb = int(blk.max()) + 1
    if nb > 1 and (blk == nb - 1).sum() < 0.5 * (blk == 0).sum():  # a short last block joins the one before
        blk[blk == nb - 1] = nb - 2
        nb -= 1
    cuts = np.searchsorted(blk, np.arange(1, nb))  # blocks are contiguous runs of frames
    Fb = np.split(F, cuts)
    K, C = F.shape[1], env.shape[1]
    out = {"FtF": np.stack([f.T @ f for f in Fb]), "FtE": np.empty((nb, len(lags_s), K, C)),
           "E2": np.empty((nb, len(lags_s))), "Es": np.empty((nb, len(lags_s), C)),
           "n": np.array([len(f) for f in Fb], np.float64), "span_s": span}
    for i, L in enumerate(lags_s):
        E = np.column_stack([np.interp(ft - L, emg_t, env[:, c]) for c in range(C)])
        for b, (f, e) in enumerate(zip(Fb, np.split(E, cuts))):
            out["FtE"][b, i] = f.T @ e
            out["E2"][b, i] = (e ** 2).sum()
            out["Es"][b, i] = e.sum(0)
    return out


def _curve(st: dict, w: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """R^2 (L,) of the ridge fitted and scored on the blocks weighted by w (B,)."""
    FtF = np.tensordot(w, st["FtF"], 1)
    B = np.tensordot(w, st["FtE"], 1)  # (L, K, C)
    E2, Es, n = w @ st["E2"], np.tensordot(w, st["Es"], 1), float(w @ st["n"])
    Gi = np.linalg.inv(FtF + alpha * np.eye(FtF.shape[0]))
    # With B = F^T E the ridge residual is ||E||^2 - 2 tr(B^T Gi B) + tr(B^T Gi FtF Gi B).
    rss = E2 - 2.0 * (B * np.matmul(Gi, B)).sum((1, 2)) + (B * np.matmul(Gi @ FtF @ Gi, B)).sum((1, 2))
    tot = E2 - (Es ** 2).sum(-1) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, 1.0 - rss / tot, np.nan)


def lag_curve(emg_t: np.ndarray, emg: np.ndarray, sample_rate_hz: float, frame_t: np.ndarray, y: np.ndarray,
              lags_s: np.ndarray, alpha: float = 1.0, highpass_s: float | None = None) -> np.ndarray:
    """R^2 (len(lags_s),) of the log envelope predicted from the pose at each candidate lag (seconds).

    emg_t (N,) s, emg (N, C) raw; frame_t (F,) s, y (F, D) targets (mm or degrees; NaN rows skipped).
    """
    st = _lag_stats(emg_t, emg, sample_rate_hz, frame_t, y, lags_s, highpass_s)
    return np.full(len(lags_s), np.nan) if st is None else _curve(st, np.ones(len(st["n"])), alpha)


def _peak(lags: np.ndarray, curve: np.ndarray, refine_s: float) -> float:
    """Lag (s) of the curve's top: the maximum of a cubic fitted over +-refine_s around the best grid
    point. The curve is flat near its top and bumpy (R^2 moves by ~1e-3 over tens of ms), so a
    wide window is needed, and it falls more slowly on the late side than on the early one, which
    pulls a parabola's vertex late (+5 ms on 10-min sessions over +-60 ms); a cubic follows the skew."""
    k = int(np.nanargmax(curve))
    lag = float(lags[k])
    m = (np.abs(lags - lag) <= refine_s + 1e-9) & np.isfinite(curve)
    if m.sum() >= 7:
        x = lags[m] - lag
        p = np.polyfit(x, curve[m], 3)
        r = np.roots(np.polyder(p))
        cand = np.r_[r[np.isreal(r)].real, x.min(), x.max(), 0.0]
        cand = cand[(cand >= x.min()) & (cand <= x.max())]
        lag += float(cand[np.argmax(np.polyval(p, cand))])  # the cubic's maximum over the window
    return lag


#: A lag whose 95 % interval is wider than this (s) is reported as not to be trusted.
TRUST_CI_WIDTH_S = 0.025


def estimate_lag(emg_t: np.ndarray, emg: np.ndarray, sample_rate_hz: float, frame_t: np.ndarray, y: np.ndarray,
                 min_s: float = -0.1, max_s: float = 0.4, step_s: float = 0.005, refine_s: float = 0.06,
                 name: str = "session", n_boot: int = 100, block_s: float = 10.0, seed: int = 0) -> dict:
    """Best lag (s) over [min_s, max_s] with its uncertainty.

    Returns {"lag_s", "ci_s" [lo, hi] (95 % segment-bootstrap interval, s), "sd_s" (bootstrap
    standard deviation, s), "n_blocks", "span_s" (s of frames used), "at_edge" (best point at an
    end of the grid), "trusted" (interval no wider than TRUST_CI_WIDTH_S and not at an edge), "r2", "r2_at_zero", "method", "lags_s", "curve"}.

    The interval resamples whole ``block_s`` segments with replacement (``n_boot`` times, fixed
    ``seed``) and re-finds the peak: it measures how much the estimate depends on which movements the
    session happens to contain, not a bias of the model (docs/models.md). Raises LagError when the
    frames with a pose cover too little EMG (under 100 frames)."""
    lags = np.arange(min_s, max_s + step_s / 2, step_s)
    st = _lag_stats(emg_t, emg, sample_rate_hz, frame_t, y, lags, block_s=block_s)
    curve = None if st is None else _curve(st, np.ones(len(st["n"])))
    if curve is None or not np.isfinite(curve).any():
        raise LagError(f"{name}: too few frames with a pose inside the EMG to estimate the EMG-to-video lag")
    k = int(np.nanargmax(curve))
    lag = _peak(lags, curve, refine_s)
    nb = len(st["n"])
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot if nb >= 2 else 0):
        c = _curve(st, np.bincount(rng.integers(0, nb, nb), minlength=nb).astype(np.float64))
        if np.isfinite(c).any():
            boots.append(_peak(lags, c, refine_s))
    lo, hi = (np.percentile(boots, [2.5, 97.5]) if len(boots) >= 10 else (np.nan, np.nan))
    # A best point at either end of the grid is no peak: the true one may lie outside (or the
    # curve is flat, e.g. a pose that does not follow the EMG).
    at_edge = k in (0, len(lags) - 1) or not lags[0] < lag < lags[-1]
    lag = float(np.clip(lag, lags[0], lags[-1]))
    z = int(np.argmin(np.abs(lags)))
    return {"lag_s": lag, "ci_s": [float(lo), float(hi)], "sd_s": float(np.std(boots)) if boots else float("nan"),
            "n_blocks": nb, "span_s": st["span_s"], "at_edge": bool(at_edge),
            "trusted": bool(hi - lo <= TRUST_CI_WIDTH_S) and not at_edge,
            "r2": float(curve[k]), "r2_at_zero": float(curve[z]), "method": METHOD,
            "lags_s": lags.tolist(), "curve": curve.tolist()}


def estimate_session_lag(s, target_frame: str = "wrist", **kw) -> dict:
    """:func:`estimate_lag` for a :class:`~recorder.dataset.windows.SessionArrays`: from its world
    landmarks (wrist-relative), or from its joint angles when it has no landmarks (imported angle
    sessions); ``kw`` go to :func:`estimate_lag`. Raises LagError naming the session when it has
    neither with a hand in any frame."""
    if not len(s.frame_t):
        raise LagError(f"{s.name}: no frames to estimate the EMG-to-video lag from")
    has_world = s.world is not None and np.isfinite(s.world).all(axis=(1, 2)).any()
    if has_world:
        w = s.world.astype(np.float64)
        y = (w - w[:, :1]).reshape(len(w), -1)
    elif s.angles is not None and np.isfinite(s.angles).all(axis=1).any():
        y = np.asarray(s.angles, np.float64)
    else:
        raise LagError(f"{s.name}: none of its {len(s.frame_t)} frames has a hand (no landmarks or joint angles), "
                       "so the EMG-to-video lag cannot be estimated; record with the hand in view")
    return estimate_lag(s.emg_t, s.emg, s.sample_rate_hz, s.frame_t, y, name=s.name, **kw)


def read_lag(path: str | Path) -> float | None:
    """The lag stored in a session file (s), or None when none is stored."""
    from recorder.session.format import SessionReader
    with SessionReader(path) as r:  # the hardened reader: crashed, damaged or crafted files are refused
        v = r.attrs.get(LAG_ATTR)
    return None if v is None else float(v)


def read_lag_ci(path: str | Path) -> tuple[float, float] | None:
    """The stored lag's 95 % interval (s), or None when none is stored."""
    from recorder.session.format import SessionReader
    with SessionReader(path) as r:
        v = r.attrs.get(LAG_CI_ATTR)
    try:
        lo, hi = (float(x) for x in v)
    except (TypeError, ValueError):  # none stored, or not two numbers
        return None
    return lo, hi


def write_lag(path: str | Path, lag_s: float, method: str = METHOD, ci_s=None) -> None:
    """Store a lag (s) in a (closed) session file's root attributes, with its 95 % interval ci_s
    ((lo, hi) s, from :func:`estimate_lag`) when given; a stored interval of an earlier lag is
    removed when none is given. The only change made to the file."""
    import h5py
    from recorder.session.format import LIBVER, set_root_attrs
    from recorder.session.writelock import WriteLock
    lock = WriteLock(path, "a lag update").acquire("store the lag in it")  # one writer per session
    try:
        with h5py.File(path, "r+", libver=LIBVER) as f:
            if ci_s is None and LAG_CI_ATTR in f.attrs:  # an earlier lag's interval is not this one's
                del f.attrs[LAG_CI_ATTR]
            values = {LAG_ATTR: float(lag_s), LAG_METHOD_ATTR: str(method)}
            if ci_s is not None:
                values[LAG_CI_ATTR] = np.asarray(ci_s, np.float64).reshape(2)
            set_root_attrs(f, values)  # restamps the root attributes' checksum (after the delete too)
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
        est = estimate_session_lag(s, n_boot=0)["lag_s"]  # the interval is for `emgrec lag`
        s.lag_s = est  # once per session object: sweeps and evaluations reuse it
        return est
    if isinstance(lag, (int, float)) and not isinstance(lag, bool):
        return float(lag) * 1e-3
    raise UsageError(f"lag must be None, 'none', 'stored', 'auto' or a number of ms, got {lag!r}")
