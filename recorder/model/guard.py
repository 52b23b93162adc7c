"""The no-skill guard: say plainly when a model has learnt nothing useful, and never hand one out
silently.

Design (docs/models.md, "No-skill guard"): a model is always saved (a cancelled or poor run is
still worth inspecting), but model.json then carries ``quality.no_skill: true`` with the reasons and
a plain-words message; ``emgrec train`` prints the message and exits with status 3 (unless
``--allow-no-skill``), ``evaluate`` and the model lists show "NO SKILL", and the Train tab shows the message
as a warning. A pose model is also blended toward the training mean pose by the factor validation
prefers (factor 1: the network as trained; 0: the mean pose), so its validation error is never
worse than the mean pose's.
"""

from __future__ import annotations

import numpy as np
import torch

from recorder.model import baselines
from recorder.model.metrics import add_lda, add_ridge, mpjpe

#: Candidate blend factors toward the mean pose.
BLEND_GRID = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))


@torch.no_grad()
def choose_blend(predictor, ws, val_idx: np.ndarray) -> float:
    """The factor w in BLEND_GRID minimising validation MPJPE (angle targets: MAE) of mean + w (network - mean);
    1.0 when there is no validation data. Prefers 1.0 unless a smaller factor is better by > 0.5 %."""
    if len(val_idx) == 0:
        return 1.0
    from recorder.model.predict import predict_array
    out = predict_array(predictor, ws.subset(val_idx).X)
    mean = predictor.y_mean.numpy().reshape(1, -1)
    true = ws.y[val_idx]
    err = (lambda p: float(np.abs(p - true).mean())) if getattr(ws, "target", "landmarks") == "angles" \
        else (lambda p: mpjpe(p, true))
    errs = {w: err(mean + w * (out - mean)) for w in BLEND_GRID}
    best = min(errs, key=errs.get)
    return float(best) if errs[best] < 0.995 * errs[1.0] else 1.0


def apply_blend(predictor, factor: float) -> None:
    """Shrink a pose Predictor's output toward its mean pose in place: out = mean + factor (net - mean),
    i.e. the de-normalising scale times ``factor`` (it travels with the weights and exports)."""
    if factor != 1.0 and predictor.is_pose:
        predictor.y_std.mul_(float(factor))


def fit_baseline(ws, train_idx: np.ndarray, task: str) -> dict | None:
    """Ridge (pose) or LDA (gesture) fitted on the training windows; None when too few."""
    if len(train_idx) < 10:
        return None
    if task == "pose":
        return baselines.fit_ridge(ws.subset(train_idx).X, ws.y[train_idx])
    labels = ws.label[train_idx]
    if len(np.unique(labels)) < 2:
        return None
    return baselines.fit_lda(ws.subset(train_idx).X, labels, len(ws.class_names))


def baseline_metrics(m: dict, baseline: dict, ws, idx: np.ndarray, task: str) -> dict:
    """Add the baseline's figures on windows ``idx`` to metrics ``m`` (in place)."""
    pred = baselines.predict(baseline, ws.subset(idx).X)
    return add_ridge(m, pred, ws.y[idx]) if task == "pose" else add_lda(m, pred, ws.label[idx])


def assess(val: dict | None, n_train: int, task: str, gc: dict) -> dict:
    """{"no_skill": bool, "reasons": [...], "message": plain words ("" when fine)} from validation
    metrics, the number of training windows and the guard config (min_train_windows, no_skill_ratio:
    pose ratio above it, or balanced accuracy below chance / it, is no skill)."""
    reasons = []
    if n_train < int(gc["min_train_windows"]):
        reasons.append(f"only {n_train} training windows (fewer than {int(gc['min_train_windows'])})")
    if val is None:
        reasons.append("no validation windows to check the model on")
    elif task == "pose":
        r = val.get("ratio", float("nan"))
        if not np.isfinite(r) or r > float(gc["no_skill_ratio"]):
            reasons.append(f"validation error is {r:.2f} of the mean pose's (needs {gc['no_skill_ratio']:.2f} or less)"
                           if "mpjpe_mm" in val else
                           f"validation angle error is {r:.2f} of the mean angles' (needs {gc['no_skill_ratio']:.2f} or less)")
    else:
        # Balanced accuracy against chance (1 / classes present): class-weighted models trade raw
        # accuracy for the rare classes, so raw accuracy below the majority share is no verdict.
        bal = val.get("balanced_accuracy", float("nan"))
        present = [r for r in (val.get("per_class_recall") or {}).values() if r is not None]
        chance = 1.0 / max(1, len(present))
        if not np.isfinite(bal) or bal < chance / float(gc["no_skill_ratio"]):
            reasons.append(f"validation balanced accuracy {bal:.2f} is no better than guessing ({chance:.2f})")
    no_skill = bool(reasons)
    message = ""
    if no_skill:
        what = "the mean pose" if task == "pose" else "guessing"
        message = (f"This model has not learnt to read the EMG: {'; '.join(reasons)}. Its predictions are no "
                   f"better than {what}. Record more data (a few minutes with varied movements), check the "
                   f"band's contact, or calibrate an earlier model on this session "
                   f"(emgrec train NEW.h5 --init MODEL --calibration-s 60).")
    return {"no_skill": no_skill, "reasons": reasons, "message": message}


def model_flag(meta) -> str:
    """"NO SKILL" for a model (its ``modelio.ModelMeta``) flagged no_skill, else ""."""
    return "NO SKILL" if meta.no_skill else ""
