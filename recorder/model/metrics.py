"""Metrics for EMG -> hand pose regression and gesture classification, always beside a baseline.

Pose arrays are (N, 63) or (N, 21, 3) in millimetres, wrist-relative (landmark 0 at the origin),
MediaPipe landmark order. The wrist is excluded from every pose metric (it is zero by construction).
"""

from __future__ import annotations

import numpy as np

from recorder.core.types import FINGERS, N_LANDMARKS

NON_WRIST = np.arange(1, N_LANDMARKS)


def _as_joints(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2 and a.shape[1] == 3 * N_LANDMARKS:
        a = a.reshape(-1, N_LANDMARKS, 3)
    if a.ndim != 3 or a.shape[1:] != (N_LANDMARKS, 3):
        raise ValueError(f"expected poses of shape (N, 63) or (N, 21, 3), got {a.shape}")
    return a


def mpjpe(pred: np.ndarray, true: np.ndarray, joints=NON_WRIST) -> float:
    """Mean per-joint position error (mm): mean over samples and ``joints`` of the Euclidean
    distance between predicted and true landmark positions."""
    p, t = _as_joints(pred), _as_joints(true)
    if p.shape != t.shape:
        raise ValueError(f"shape mismatch {p.shape} vs {t.shape}")
    if len(p) == 0:
        return float("nan")
    return float(np.linalg.norm(p[:, joints] - t[:, joints], axis=-1).mean())


def r2_score(pred: np.ndarray, true: np.ndarray) -> float:
    """Coefficient of determination over all non-wrist coordinates, pooled (variance-weighted):
    1 - sum of squared errors / sum of squared deviations from the per-coordinate mean of ``true``."""
    p, t = _as_joints(pred)[:, NON_WRIST], _as_joints(true)[:, NON_WRIST]
    ss_res = float(((p - t) ** 2).sum())
    ss_tot = float(((t - t.mean(axis=0)) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def pose_metrics(pred: np.ndarray, true: np.ndarray, baseline_pose: np.ndarray) -> dict:
    """Pose metrics of ``pred`` against ``true`` and of the mean-pose baseline on the same samples.

    baseline_pose: (63,) or (21, 3) mm, the mean pose of the *training* split (what a model that
    ignores the EMG would predict). Returns a JSON-able dict: n, mpjpe_mm, per_finger_mm,
    r2, baseline_mpjpe_mm, baseline_per_finger_mm, ratio (model / baseline MPJPE; < 1 is better).
    """
    t = _as_joints(true)
    base = np.broadcast_to(_as_joints(np.asarray(baseline_pose).reshape(1, -1)), t.shape)
    out = {"n": int(len(t)), "mpjpe_mm": mpjpe(pred, t), "baseline_mpjpe_mm": mpjpe(base, t)}
    out["per_finger_mm"] = {f: mpjpe(pred, t, list(j)) for f, j in FINGERS.items()}
    out["baseline_per_finger_mm"] = {f: mpjpe(base, t, list(j)) for f, j in FINGERS.items()}
    out["r2"] = r2_score(pred, t)
    out["ratio"] = out["mpjpe_mm"] / out["baseline_mpjpe_mm"] if out["baseline_mpjpe_mm"] > 0 else float("nan")
    return out


def add_ridge(m: dict, ridge_pred: np.ndarray, true: np.ndarray) -> dict:
    """Put the ridge baseline's figures on the same windows into pose metrics ``m`` (in place):
    ridge_mpjpe_mm, ridge_ratio (ridge / mean pose) and ratio_vs_ridge (model / ridge). For angle
    metrics (``mae_deg`` present) the error is the MAE in degrees: ridge_mae_deg instead."""
    if "mae_deg" in m:
        key, err, base, own = "ridge_mae_deg", float(np.abs(np.asarray(ridge_pred, np.float64) - true).mean()), \
            m["baseline_mae_deg"], m["mae_deg"]
    else:
        key, err, base, own = "ridge_mpjpe_mm", mpjpe(ridge_pred, true), m["baseline_mpjpe_mm"], m["mpjpe_mm"]
    m[key] = err
    m["ridge_ratio"] = err / base if base > 0 else float("nan")
    m["ratio_vs_ridge"] = own / err if err > 0 else float("nan")
    return m


def add_lda(m: dict, lda_pred: np.ndarray, true: np.ndarray) -> dict:
    """Put the LDA baseline's accuracy and balanced accuracy on the same windows into gesture
    metrics ``m`` (in place): lda_accuracy, lda_balanced_accuracy."""
    g = gesture_metrics(np.asarray(lda_pred), true, m["class_names"])
    m["lda_accuracy"], m["lda_balanced_accuracy"] = g["accuracy"], g["balanced_accuracy"]
    return m


def confusion_matrix(true: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, K) int64 counts; row = true class, column = predicted class."""
    true = np.asarray(true, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    return np.bincount(true * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def gesture_metrics(pred: np.ndarray, true: np.ndarray, class_names: list[str],
                    baseline_class: int | None = None) -> dict:
    """Classification metrics. pred: (N,) class indices or (N, K) probabilities; true: (N,) indices.

    baseline_class: the majority class of the training split; its accuracy on these samples is
    reported as ``baseline_accuracy`` (what always answering the commonest class scores).
    Returns n, accuracy, balanced_accuracy, per_class_recall {name: recall or None when absent},
    confusion (K x K list, rows true), class_names, baseline_accuracy.
    """
    pred = np.asarray(pred)
    if pred.ndim == 2:
        pred = pred.argmax(axis=1)
    true = np.asarray(true, dtype=np.int64)
    if pred.shape != true.shape:
        raise ValueError(f"shape mismatch {pred.shape} vs {true.shape}")
    k = len(class_names)
    cm = confusion_matrix(true, pred, k)
    support = cm.sum(axis=1)
    recall = [float(cm[i, i] / support[i]) if support[i] else None for i in range(k)]
    present = [r for r in recall if r is not None]
    out = {
        "n": int(len(true)),
        "accuracy": float((pred == true).mean()) if len(true) else float("nan"),
        "balanced_accuracy": float(np.mean(present)) if present else float("nan"),
        "per_class_recall": dict(zip(class_names, recall)),
        "confusion": cm.tolist(),
        "class_names": list(class_names),
    }
    if baseline_class is not None:
        out["baseline_accuracy"] = float((true == baseline_class).mean()) if len(true) else float("nan")
    return out


def _fmt(v, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def format_metrics_table(rows: dict[str, dict]) -> str:
    """Markdown table, one row per (name -> metrics dict from pose_metrics or gesture_metrics).
    Pose rows show MPJPE, the mean-pose baseline, the ratio, R^2 and per-finger MPJPE; gesture rows
    show accuracy, balanced accuracy and the majority-class baseline."""
    pose = {k: v for k, v in rows.items() if "mpjpe_mm" in v}
    gest = {k: v for k, v in rows.items() if "accuracy" in v}
    ang = {k: v for k, v in rows.items() if "mae_deg" in v}
    lines: list[str] = []
    if ang:  # joint-angle targets (recorder.dataset.angles.angle_metrics): MAE in degrees, per finger
        fingers = list(dict.fromkeys(f for m in ang.values() for f in m.get("per_finger_deg", {})))
        lines.append("| | n | MAE deg | mean-angle baseline deg | ratio | ridge ratio | " + " | ".join(fingers) + " |")
        lines.append("|---" * (6 + len(fingers)) + "|")
        for name, m in ang.items():
            pf, bf = m.get("per_finger_deg", {}), m.get("baseline_per_finger_deg", {})
            lines.append(f"| {name} | {m['n']} | {_fmt(m['mae_deg'])} | {_fmt(m['baseline_mae_deg'])} | "
                         f"{_fmt(m['ratio'], 3)} | {_fmt(m.get('ridge_ratio'), 3)} | " + " | ".join(f"{_fmt(pf.get(f))} ({_fmt(bf.get(f))})"
                                                               for f in fingers) + " |")
        lines.append("(per finger: model (baseline))")
    if pose:
        fingers = list(FINGERS)
        lines.append("| | n | MPJPE mm | baseline mm | ratio | ridge mm | ridge ratio | R2 | "
                     + " | ".join(fingers) + " |")
        lines.append("|---" * (8 + len(fingers)) + "|")
        for name, m in pose.items():
            pf = m.get("per_finger_mm", {})
            lines.append(f"| {name} | {m['n']} | {_fmt(m['mpjpe_mm'])} | {_fmt(m['baseline_mpjpe_mm'])} | "
                         f"{_fmt(m['ratio'], 3)} | {_fmt(m.get('ridge_mpjpe_mm'))} | {_fmt(m.get('ridge_ratio'), 3)} | "
                         f"{_fmt(m['r2'], 3)} | "
                         + " | ".join(_fmt(pf.get(f)) for f in fingers) + " |")
    if gest:
        if lines:
            lines.append("")
        lines.append("| | n | accuracy | balanced acc. | majority baseline | LDA acc. | LDA balanced |")
        lines.append("|---|---|---|---|---|---|---|")
        for name, m in gest.items():
            lines.append(f"| {name} | {m['n']} | {_fmt(m['accuracy'], 4)} | {_fmt(m['balanced_accuracy'], 4)} | "
                         f"{_fmt(m.get('baseline_accuracy'), 4)} | {_fmt(m.get('lda_accuracy'), 4)} | "
                         f"{_fmt(m.get('lda_balanced_accuracy'), 4)} |")
    return "\n".join(lines)


def format_confusion(m: dict) -> str:
    """Plain-text confusion matrix (rows true, columns predicted) with per-class recall."""
    names = m["class_names"]
    cm = np.asarray(m["confusion"])
    w = max(6, max(len(n) for n in names) + 1)
    lines = [" " * w + "".join(f"{n[:w - 1]:>{w}}" for n in names) + f"{'recall':>{w + 2}}"]
    for i, n in enumerate(names):
        r = m["per_class_recall"].get(n)
        lines.append(f"{n:<{w}}" + "".join(f"{v:>{w}d}" for v in cm[i]) + f"{_fmt(r, 3):>{w + 2}}")
    return "\n".join(lines)
