"""Classic baselines fitted beside every model: ridge regression (pose) and LDA (gestures) on
per-channel window features, so a network's figure always stands next to what a textbook method
reaches on the same training windows.

Features of one EMG window (T, C) raw units, per channel: log RMS, log MAV (mean absolute value) and
log WL (waveform length, the summed absolute first difference per sample), after removing the
channel's window mean. Logs make the features independent of the device's unit scale (a scale is an
additive constant, which the standardisation removes) and turn the EMG's multiplicative amplitude
changes into additive ones, which suits a linear model. Result: (N, 3 C) float64, in the order
[rms_1..rms_C, mav_1..mav_C, wl_1..wl_C].

A fitted baseline is a small JSON-able dict (feature mean/std, coefficients, intercept), stored in
``model.json`` under ``baselines`` so that ``evaluate`` can score it on any session.
"""

from __future__ import annotations

import numpy as np

FEATURES = ("log_rms", "log_mav", "log_wl")
#: Ridge penalty on standardised features (3 C of them; a few thousand overlapping windows).
RIDGE_ALPHA = 10.0
_EPS = 1e-6


def window_features(X: np.ndarray, batch: int = 8192) -> np.ndarray:
    """(N, T, C) raw windows -> (N, 3 C) float64 features (see the module docstring). A
    dataset.WindowView / FileWindows is gathered a batch at a time (never materialised)."""
    from recorder.dataset.windows import LAZY_WINDOWS
    if isinstance(X, LAZY_WINDOWS):
        batch = max(16, min(batch, (1 << 21) // max(1, X.shape[1] * X.shape[2])))
    else:
        X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"expected windows (N, T, C), got {X.shape}")
    n, _, c = X.shape
    out = np.empty((n, 3 * c))
    for i in range(0, n, batch):  # bound the float64 temporary
        x = X[i:i + batch].astype(np.float64)
        x = x - x.mean(axis=1, keepdims=True)
        out[i:i + batch, :c] = np.log(np.sqrt((x ** 2).mean(axis=1)) + _EPS)
        out[i:i + batch, c:2 * c] = np.log(np.abs(x).mean(axis=1) + _EPS)
        out[i:i + batch, 2 * c:] = np.log(np.abs(np.diff(x, axis=1)).mean(axis=1) + _EPS)
    return out


def _standardise(F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = F.mean(axis=0), F.std(axis=0)
    std[std < 1e-9] = 1.0
    return mean, std


def fit_ridge(X: np.ndarray, y: np.ndarray, alpha: float = RIDGE_ALPHA) -> dict:
    """Ridge regression from window features of X (N, T, C) to targets y (N, D) (mm or degrees)."""
    F = window_features(X)
    mean, std = _standardise(F)
    Fs = (F - mean) / std  # centred, so the unpenalised intercept is the target mean
    y = np.asarray(y, np.float64).reshape(len(F), -1)
    y_mean = y.mean(axis=0)
    # The normal equations of sklearn's Ridge(fit_intercept=True), solved directly: the (3C, 3C) system
    # is tiny, and importing scikit-learn for it cost ~90 MB of every training's peak memory.
    w = np.linalg.solve(Fs.T @ Fs + float(alpha) * np.eye(Fs.shape[1]), Fs.T @ (y - y_mean))
    return {"kind": "ridge", "features": list(FEATURES), "alpha": float(alpha),
            "f_mean": mean.tolist(), "f_std": std.tolist(),
            "coef": w.T.tolist(), "intercept": y_mean.tolist()}


def fit_lda(X: np.ndarray, label: np.ndarray, n_classes: int) -> dict:
    """Linear discriminant analysis (shrinkage, lsqr solver) on window features; label (N,) indices."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    F = window_features(X)
    mean, std = _standardise(F)
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit((F - mean) / std, label)
    coef = np.atleast_2d(lda.coef_)
    icpt = np.atleast_1d(lda.intercept_)
    if len(lda.classes_) == 2:  # sklearn keeps one decision row for two classes
        coef = np.vstack([-coef, coef]) / 2
        icpt = np.array([-icpt[0], icpt[0]]) / 2
    return {"kind": "lda", "features": list(FEATURES), "classes": [int(c) for c in lda.classes_],
            "n_classes": int(n_classes), "f_mean": mean.tolist(), "f_std": std.tolist(),
            "coef": coef.tolist(), "intercept": icpt.tolist()}


def predict(baseline: dict, X: np.ndarray) -> np.ndarray:
    """Ridge: (N, D) targets; LDA: (N,) class indices (into the model's class_names)."""
    F = (window_features(X) - np.asarray(baseline["f_mean"])) / np.asarray(baseline["f_std"])
    score = F @ np.asarray(baseline["coef"]).T + np.asarray(baseline["intercept"])
    if baseline["kind"] == "ridge":
        return score.astype(np.float32)
    return np.asarray(baseline["classes"])[score.argmax(axis=1)]
