"""Joint angles from the 21 MediaPipe hand landmarks (3-D), in degrees, and their metrics.

Flexion at a joint J with the landmark P before it and C after it on the chain is the angle between
the two bones, ``theta = arccos(u . v / (|u| |v|))`` with ``u = J - P`` and ``v = C - J``: 0 deg is a
straight finger, 90 deg a right-angle bend (formulas and the table in docs/models.md). Finger spread
is the angle between the proximal phalanges (MCP -> PIP) of two neighbouring fingers. Rotations do
not change any of them, so world and hand-frame landmarks give the same angles.
"""

from __future__ import annotations

import numpy as np

from recorder.core.types import FINGERS

#: name -> (P, J, C) landmark indices (flexion at J), or ("spread", a, b, c, d): angle between a->b and c->d.
ANGLE_DEFS: dict[str, tuple] = {
    "thumb_cmc": (0, 1, 2), "thumb_mcp": (1, 2, 3), "thumb_ip": (2, 3, 4),
    "index_mcp": (0, 5, 6), "index_pip": (5, 6, 7), "index_dip": (6, 7, 8),
    "middle_mcp": (0, 9, 10), "middle_pip": (9, 10, 11), "middle_dip": (10, 11, 12),
    "ring_mcp": (0, 13, 14), "ring_pip": (13, 14, 15), "ring_dip": (14, 15, 16),
    "pinky_mcp": (0, 17, 18), "pinky_pip": (17, 18, 19), "pinky_dip": (18, 19, 20),
    "spread_index_middle": ("spread", 5, 6, 9, 10),
    "spread_middle_ring": ("spread", 9, 10, 13, 14),
    "spread_ring_pinky": ("spread", 13, 14, 17, 18),
}
ANGLE_NAMES: list[str] = list(ANGLE_DEFS)


def _angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Degrees between vectors u, v (..., 3); NaN where either has zero length."""
    nu, nv = np.linalg.norm(u, axis=-1), np.linalg.norm(v, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (u * v).sum(-1) / (nu * nv)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def angles_from_landmarks(world: np.ndarray) -> np.ndarray:
    """(F, 21, 3) landmarks (any units) -> (F, 18) float32 degrees in ``ANGLE_NAMES`` order; NaN where
    the landmarks are NaN."""
    w = np.asarray(world, dtype=np.float64)
    if w.ndim != 3 or w.shape[1:] != (21, 3):
        raise ValueError(f"expected landmarks of shape (F, 21, 3), got {w.shape}")
    out = np.empty((len(w), len(ANGLE_DEFS)), np.float32)
    for k, d in enumerate(ANGLE_DEFS.values()):
        if d[0] == "spread":
            _, a, b, c, e = d
            out[:, k] = _angle(w[:, b] - w[:, a], w[:, e] - w[:, c])
        else:
            p, j, c = d
            out[:, k] = _angle(w[:, j] - w[:, p], w[:, c] - w[:, j])
    return out


def finger_of(name: str) -> str:
    """The finger an angle belongs to ("spread" for spread angles; the name itself when unknown,
    e.g. an imported column called "thumb"). Imported "little" is the pinky."""
    head = name.split("_")[0].lower()
    head = {"little": "pinky"}.get(head, head)
    return head if head in FINGERS or head == "spread" else name


def angle_metrics(pred: np.ndarray, true: np.ndarray, baseline: np.ndarray, names: list[str]) -> dict:
    """Mean absolute error in degrees of ``pred`` (N, K) against ``true`` (N, K), beside the mean-angle
    baseline (K,) (the training mean) on the same rows; overall, per angle and per finger.
    Returns n, mae_deg, baseline_mae_deg, ratio, per_finger_deg, baseline_per_finger_deg, per_angle_deg."""
    p, t = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    if p.shape != t.shape or p.ndim != 2 or p.shape[1] != len(names):
        raise ValueError(f"shape mismatch {p.shape} vs {t.shape} for {len(names)} angles")
    b = np.broadcast_to(np.asarray(baseline, np.float64).reshape(1, -1), t.shape)
    e, eb = np.abs(p - t), np.abs(b - t)
    nan = float("nan")
    out = {"n": int(len(t)), "mae_deg": float(e.mean()) if len(t) else nan,
           "baseline_mae_deg": float(eb.mean()) if len(t) else nan}
    out["ratio"] = out["mae_deg"] / out["baseline_mae_deg"] if out["baseline_mae_deg"] > 0 else nan
    fingers: dict[str, list[int]] = {}
    for k, n in enumerate(names):
        fingers.setdefault(finger_of(n), []).append(k)
    out["per_finger_deg"] = {f: float(e[:, ks].mean()) if len(t) else nan for f, ks in fingers.items()}
    out["baseline_per_finger_deg"] = {f: float(eb[:, ks].mean()) if len(t) else nan for f, ks in fingers.items()}
    out["per_angle_deg"] = {n: float(e[:, k].mean()) if len(t) else nan for k, n in enumerate(names)}
    return out
