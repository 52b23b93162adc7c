"""A small loader of the raw JHU NTX 2023 rows (../shared/data/emg-pose/jhu-ntx2023) for the quality
bench's feature-model comparison (the network rows import the sessions with recorder.imports.pose,
the documented way; this reads the irregular rows as they are): EMG rows on a 12-hour clock
(+12 h), exact repeats of the previous row dropped, angle rows kept where all five angles lie
strictly inside (1, 179.5) degrees (0 / 180 are MediaPipe failures, see the data's README)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from .core import ROOT

JHU_ROOT = ROOT.parent / "shared" / "data" / "emg-pose" / "jhu-ntx2023"
ANGLES = ("thumb", "index", "middle", "ring", "little")


def _tod(s: str) -> float:
    h, m, sec = s.split(":")
    return int(h) * 3600 + int(m) * 60 + float(sec)


def load(name: str) -> dict:
    """{"emg_t" (N,) s of day, "emg" (N, 8), "t" (F,) s of day, "angles" (F, 5) deg} for "a" or "b"."""
    e = np.genfromtxt(JHU_ROOT / f"session-{name}_emg.csv", delimiter=",", skip_header=1, dtype=str)
    emg_t = (np.array([_tod(s) for s in e[:, 0]]) + 12 * 3600) % 86400
    emg = e[:, 1:].astype(np.float64)
    keep = np.r_[True, np.any(np.diff(emg, axis=0) != 0, axis=1)]  # drop exact repeats
    a = np.genfromtxt(JHU_ROOT / f"session-{name}_angles.csv", delimiter=",", skip_header=1, dtype=str)
    t = np.array([_tod(s.split(" ")[1]) for s in a[:, 0]])
    ang = a[:, 1:].astype(np.float64)
    ok = np.all((ang > 1) & (ang < 179.5), axis=1)
    return {"emg_t": emg_t[keep], "emg": emg[keep], "t": t[ok], "angles": ang[ok]}


def features(d: dict, lag_s: float = 0.0, scales_s=(0.1, 0.2, 0.4, 0.8)) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel log RMS, log MAV, log WL over several windows ending at each angle frame - lag.
    Returns (features (F', 3 C len(scales)), mask (F,) of frames with >= 4 EMG rows in every window)."""
    et, x = d["emg_t"], d["emg"] - d["emg"].mean(axis=0)
    c1 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x ** 2, axis=0)])
    c2 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(np.abs(x), axis=0)])
    c3 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(np.r_[np.zeros((1, x.shape[1])), np.abs(np.diff(x, axis=0))], axis=0)])
    end = np.searchsorted(et, d["t"] - lag_s, side="right")
    feats, ok = [], np.ones(len(end), bool)
    for w in scales_s:
        start = np.searchsorted(et, d["t"] - lag_s - w, side="left")
        n = (end - start).astype(np.float64)
        ok &= n >= 4
        n = np.maximum(n, 1)[:, None]
        for c, f in ((c1, lambda v: np.sqrt(v)), (c2, lambda v: v), (c3, lambda v: v)):
            feats.append(np.log(f((c[end] - c[start]) / n) + 1e-4))
    return np.hstack(feats)[ok], ok
