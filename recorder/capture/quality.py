"""Per-channel EMG signal quality: RMS, clipping and flat (dead / disconnected) electrodes.

Pure numpy on a window of raw samples, so the GUI, the CLI and tests judge a channel the same way.
Thresholds are in the device's raw units; :func:`thresholds_for` derives sensible ones from a
source's dtype and ``scale_to_uV``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

GOOD, WARN, BAD = "good", "warn", "bad"

#: Usable input range of devices whose raw dtype is wider than the ADC (Cyton: 24-bit in int32).
_ADC_BITS = {"cyton": 24}


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    """Limits in raw device units.

    lo, hi: the ADC's full-scale range; samples at (or beyond) a rail count as clipped.
        None when unknown (float streams): clipping is then not judged.
    flat_std: a channel whose standard deviation is below this is flat (dead or disconnected).
    clip_warn_pct, clip_bad_pct: clipped fraction of the window (percent) for amber / red.
    """

    lo: float | None = None
    hi: float | None = None
    flat_std: float = 0.5
    clip_warn_pct: float = 0.5
    clip_bad_pct: float = 5.0


@dataclass(frozen=True, slots=True)
class ChannelQuality:
    """Quality of one channel over one window. rms in raw units (DC removed); clipping_pct in %."""

    rms: float
    clipping_pct: float
    flat: bool
    level: str  # GOOD | WARN | BAD
    reason: str  # "" when good; otherwise a short human reason ("flat", "clipping 7.1 %")


def thresholds_for(kind: str, dtype, scale_to_uV: float = float("nan"),
                   flat_uV: float = 0.5) -> QualityThresholds:
    """Thresholds for a source of ``kind`` delivering ``dtype`` samples.

    Integer dtypes clip at their range (or at the ADC's bit width for devices listed in _ADC_BITS);
    flat means a standard deviation below ``flat_uV`` microvolts when the scale is known, otherwise
    below half a count.
    """
    dt = np.dtype(dtype)
    lo = hi = None
    if kind in _ADC_BITS:
        bits = _ADC_BITS[kind]
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = int(info.min), int(info.max)
    flat = 0.5
    if scale_to_uV is not None and math.isfinite(scale_to_uV) and scale_to_uV > 0:
        flat = flat_uV / scale_to_uV
    return QualityThresholds(lo=lo, hi=hi, flat_std=flat)


def assess(x: np.ndarray, th: QualityThresholds = QualityThresholds()) -> list[ChannelQuality]:
    """Judge each channel of a window x (T, C) raw units; returns C results.

    An empty window (T == 0) is reported as BAD "no data" for every channel.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"quality.assess expects (T, C) samples, got shape {x.shape}")
    n, c = x.shape
    if n == 0:
        return [ChannelQuality(0.0, 0.0, True, BAD, "no data") for _ in range(c)]
    xf = x.astype(np.float64, copy=False)
    std = xf.std(axis=0)
    if th.lo is not None and th.hi is not None:
        clipped = ((xf <= th.lo) | (xf >= th.hi)).mean(axis=0) * 100.0
    else:
        clipped = np.zeros(c)
    out = []
    for k in range(c):
        flat = bool(std[k] < th.flat_std)
        clip = float(clipped[k])
        # A channel stuck at a rail is also flat; "clipping" is the more useful diagnosis then.
        if clip >= th.clip_bad_pct:
            level, reason = BAD, f"clipping {clip:.1f} %"
        elif flat:
            level, reason = BAD, "flat / disconnected"
        elif clip >= th.clip_warn_pct:
            level, reason = WARN, f"clipping {clip:.1f} %"
        else:
            level, reason = GOOD, ""
        out.append(ChannelQuality(float(std[k]), clip, flat, level, reason))
    return out
