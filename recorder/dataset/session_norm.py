"""Per-session input normalisation: a robust per-channel EMG scale computed causally from the session.

Electrode gain differs between sessions (band placement, skin contact) and drifts within one
(sweat, a contact that loosens). With ``data.session_norm`` on, every sample is divided, per
channel, by a robust scale of the same session's EMG *before* it: the signal is cut into blocks of
``block_ms``; each block's RMS (about the block's own mean) is computed; the samples of block j
are divided by the median of the RMS of the blocks before j that the kind selects:

- ``"running"``: the blocks that ended within the preceding ``window_s`` (a slowly adapting scale
  that also follows gain drift and contact changes);
- ``"start"``: the blocks of the session's first ``window_s`` (growing until then, frozen after;
  one scale per session, from its start).

Until the first block ends the scale is 1 (raw units); windows that end before ``warmup_s`` (and
at least one block plus one window) are dropped, so no window ever sees that part.
The scale depends only on earlier samples, so the live path reproduces it sample for sample:
:class:`CausalScaler` takes the stream in chunks of any size and returns what
:func:`scale_signal` returns for the whole signal. Blocks count received samples (rows of the
session file), so a gap in the stream shifts nothing the file would not.

Shapes: x (N, C) raw device units in any dtype; scaled output (N, C) float32 (dimensionless, ~1
at the median block RMS). No torch here (the dataset stage stays torch-free).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from recorder.core.errors import UsageError

#: ``data.session_norm`` keys and their defaults. enabled: false (the default: on JHU the scale broke
#: the calibration target, docs/models.md), true, or "auto" (on for the pose task, off for gestures:
#: on a 140 s synthetic gesture session the scale cost accuracy).
DEFAULTS: dict = {"enabled": False, "kind": "running", "block_ms": 200.0, "window_s": 60.0, "warmup_s": 2.0}
KINDS = ("running", "start")


class SessionNormError(UsageError):
    """A malformed ``session_norm`` setting."""


def resolve(cfg: dict | None, task: str = "pose") -> dict | None:
    """The full setting (DEFAULTS updated with ``cfg``; "auto" decided by ``task``, so the result
    says ``"enabled": true``), or None when off or absent (older models)."""
    if not cfg:
        return None
    unknown = set(cfg) - set(DEFAULTS)
    if unknown:
        raise SessionNormError(f"unknown session_norm key(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    out = {**DEFAULTS, **cfg}
    if out["enabled"] not in (True, False, "auto"):
        raise SessionNormError(f"session_norm.enabled must be true, false or 'auto', got {out['enabled']!r}")
    if out["enabled"] == "auto":
        out["enabled"] = task == "pose"
    if not out["enabled"]:
        return None
    if out["kind"] not in KINDS:
        raise SessionNormError(f"session_norm.kind must be one of {KINDS}, got {out['kind']!r}")
    for k in ("block_ms", "window_s"):
        if not float(out[k]) > 0:
            raise SessionNormError(f"session_norm.{k} must be > 0, got {out[k]!r}")
    if float(out["warmup_s"]) < 0:
        raise SessionNormError(f"session_norm.warmup_s must be >= 0, got {out['warmup_s']!r}")
    return out


def block_samples(cfg: dict, sample_rate_hz: float) -> int:
    """Samples per block (at least 2)."""
    return max(2, int(round(float(cfg["block_ms"]) * 1e-3 * sample_rate_hz)))


def window_blocks(cfg: dict, sample_rate_hz: float) -> int:
    """Blocks in ``window_s`` (at least 1)."""
    return max(1, int(round(float(cfg["window_s"]) * sample_rate_hz / block_samples(cfg, sample_rate_hz))))


def warmup_samples(cfg: dict, sample_rate_hz: float, window_n: int) -> int:
    """Samples a session must have delivered before a window may end at its newest one:
    max(warmup_s, one block + one window)."""
    return max(int(round(float(cfg["warmup_s"]) * sample_rate_hz)), block_samples(cfg, sample_rate_hz) + int(window_n))


def _block_rms(b: np.ndarray) -> np.ndarray:
    """(..., n, C) blocks -> (..., C) float64 RMS about each block's mean."""
    b = np.asarray(b, np.float64)
    return np.sqrt(np.mean((b - b.mean(axis=-2, keepdims=True)) ** 2, axis=-2))


def _floor(s: np.ndarray) -> np.ndarray:
    """A dead or near-silent channel is not blown up: scales below 1e-3 of the loudest channel's are
    raised to it; all zero -> 1."""
    top = float(np.max(s)) if s.size else 0.0
    if not top > 0:
        return np.ones_like(s)
    return np.maximum(s, 1e-3 * top)


def _median_of(hist: np.ndarray) -> np.ndarray:
    return _floor(np.median(hist, axis=0))


def block_rms(x, n: int, rows: int | None = None) -> np.ndarray:
    """(K, C) float64 RMS of the K = N // n complete blocks of n rows of x (N, C): an array or
    anything sliced by rows (an HDF5 dataset is read a bounded piece at a time)."""
    N = int(x.shape[0] if rows is None else rows)
    C = int(x.shape[1])
    K = N // n
    rms = np.empty((K, C), np.float64)
    step = max(1, (1 << 22) // max(1, n * C))  # bound the float64 temporary
    for a in range(0, K, step):
        b = min(K, a + step)
        rms[a:b] = _block_rms(np.asarray(x[a * n:b * n]).reshape(b - a, n, C))
    return rms


def block_scales(x: np.ndarray, sample_rate_hz: float, cfg: dict, rms: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """(K + 1, C) float32 scale per block of x (N, C) and the block length n: samples
    [j * n, (j + 1) * n) are divided by row j (row 0 is 1; K = N // n complete blocks).
    rms: the blocks' RMS (:func:`block_rms`) when already known (x is then not read)."""
    n = block_samples(cfg, sample_rate_hz)
    W = window_blocks(cfg, sample_rate_hz)
    if rms is None:
        rms = block_rms(x, n)
    K, C = rms.shape
    out = np.ones((K + 1, C), np.float32)
    frozen = None
    for j in range(1, K + 1):
        if cfg["kind"] == "start" and j > W:
            out[j] = frozen
            continue
        out[j] = _median_of(rms[max(0, j - W):j])
        if j == W:
            frozen = out[j]
    return out, n


def apply_scales(x: np.ndarray, scales: np.ndarray, n: int, first_row: int = 0) -> np.ndarray:
    """Rows [first_row, first_row + len(x)) of a signal, x (k, C), divided by their blocks' scales
    (:func:`block_scales`) -> (k, C) float32 (a new array)."""
    out = np.array(x, dtype=np.float32, copy=True)
    j0, j1 = first_row // n, (first_row + len(out) - 1) // n if len(out) else -1
    for j in range(j0, min(j1, len(scales) - 1) + 1):  # one division per block (no (N, C) scale array)
        a = max(0, j * n - first_row)
        b = len(out) if j == len(scales) - 1 else min(len(out), (j + 1) * n - first_row)
        out[a:b] /= scales[j]
    return out


def scale_signal(x: np.ndarray, sample_rate_hz: float, cfg: dict) -> np.ndarray:
    """x (N, C) raw units -> (N, C) float32 divided by the causal per-block scale (see module doc)."""
    scales, n = block_scales(x, sample_rate_hz, cfg)
    return apply_scales(x, scales, n)


class CausalScaler:
    """The same scale as :func:`scale_signal`, for a stream: ``process(x)`` takes the next (n, C)
    samples (any chunking) and returns them scaled, float32. ``seen``: samples processed so far."""

    def __init__(self, n_channels: int, sample_rate_hz: float, cfg: dict):
        self.cfg = dict(cfg)
        self.n = block_samples(cfg, sample_rate_hz)
        self.W = window_blocks(cfg, sample_rate_hz)
        self.C = int(n_channels)
        self.reset()

    def reset(self) -> None:
        self._block = np.zeros((self.n, self.C), np.float32)
        self._fill = 0
        self._hist: deque = deque(maxlen=self.W)
        self._blocks = 0
        self.scale = np.ones(self.C, np.float32)
        self.seen = 0

    def _close_block(self) -> None:
        self._blocks += 1
        if self.cfg["kind"] == "start" and self._blocks > self.W:
            return  # frozen at the first window_s
        self._hist.append(_block_rms(self._block))
        self.scale = _median_of(np.asarray(self._hist)).astype(np.float32)

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        out = np.empty_like(x)
        i = 0
        while i < len(x):
            k = min(len(x) - i, self.n - self._fill)
            seg = x[i:i + k]
            out[i:i + k] = seg / self.scale
            self._block[self._fill:self._fill + k] = seg
            self._fill += k
            i += k
            if self._fill == self.n:
                self._close_block()
                self._fill = 0
        self.seen += len(x)
        return out
