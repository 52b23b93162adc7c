"""Calibration: fine-tune a model from earlier sessions on the first N seconds of a new session and
score it on the rest of that session beside three references on the same windows.

``calibrate(MODEL_DIR, NEW.h5, OUT, calibration_s=60)``:

- windows of the new session with the earlier model's window, target frame and lag setting;
- the first ``calibration_s`` seconds (of anchor time) are calibration: their first 80 % train, the
  last 20 % validation (early stopping, blend factor); after a gap of one window the rest is test;
- the calibrated model: the earlier model fine-tuned on the calibration windows at half the
  learning rate without channel-rotation augmentation, twice: keeping its normalisation, and with
  the input and target normalisation refitted on the calibration windows; of these two and the
  earlier model as it is, the one with the lowest error on the calibration's validation part is the
  calibrated model (``chosen`` in the report; it is what is saved). Measured: on the realistic
  synthetic subject keeping the normalisation was better (ratio 0.41 vs 0.43-0.45 refitted), on
  JHU session A refitting was (0.63 vs 0.68), so neither is fixed;
- references on the test windows: the earlier model without calibration, the same architecture
  trained from scratch on the calibration windows, the ridge baseline fitted on them, and the mean
  pose of the calibration seconds (the baseline every ratio here is relative to).
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import numpy as np

from recorder.dataset import windows as ds
from recorder.core.errors import UsageError


def calibration_split(ws: ds.WindowSet, calibration_s: float, val_fraction: float = 0.2) -> dict:
    """Split of a one-session WindowSet: train / val within the first calibration_s, test after."""
    if len(ws.sessions) != 1:
        raise ds.DatasetError("calibration works on one session")
    t0, t1 = float(ws.t.min()), float(ws.t.max()) + 1e-6
    cut = t0 + float(calibration_s)
    gap = ws.window_s
    if cut + gap >= t1:
        raise ds.DatasetError(f"{ws.sessions[0]['name']}: {t1 - t0:.0f} s of windows leave nothing to test after "
                              f"{calibration_s:g} s of calibration")
    c1 = t0 + (1.0 - val_fraction) * calibration_s
    s = ws.sessions[0]
    return {"mode": "calibration", "gap_s": gap, "calibration_s": float(calibration_s),
            "sessions": [{"name": s["name"], "sha256": s["sha256"], "train": [[t0, c1]],
                          "val": [[c1 + gap, cut]], "test": [[cut + gap, np.inf]]}]}


def calibrate(init_dir: str | Path, session, out_dir: str | Path | None, calibration_s: float = 60.0,
              config: dict | None = None, progress=None, cancel: threading.Event | None = None) -> dict:
    """Calibrate; returns {"metrics": {name: pose metrics on the test windows}, "calibrated": TrainResult
    meta summary, "quality", "n_calibration", "n_test", "out_dir"}. ``config`` overrides the earlier
    model's training config (e.g. train.epochs)."""
    from recorder.model.metrics import pose_metrics
    from recorder.model.folder import load_model
    from recorder.model.training import _merge, resolve_config, train
    from recorder.model import baselines

    model = load_model(init_dir)
    if model.task != "pose":
        raise UsageError(f"{init_dir}: calibration is implemented for pose models (this one is {model.task})")
    base_cfg = resolve_config(model.meta.config)
    # The earlier model's own input scale (an older model without one: off, whatever the default now).
    base_cfg["data"]["session_norm"] = model.meta.session_norm or {"enabled": False}
    cfg = _merge(base_cfg, config or {})
    dc = cfg["data"]
    s = session if isinstance(session, ds.SessionArrays) else ds.read_session(session)
    ws = ds.build_windows([s], task="pose", window_ms=model.window_ms, anchor=dc["anchor"],
                          target_frame=dc["target_frame"], target=dc["target"], clean=dc["clean"], lag=dc["lag"],
                          session_norm=dc["session_norm"])
    if abs(ws.sample_rate_hz - model.sample_rate_hz) > 1e-6 or len(ws.channel_names) != len(model.channel_names):
        raise ds.DatasetError(f"{init_dir}: model expects {model.sample_rate_hz} Hz x {len(model.channel_names)} channels, "
                         f"{s.name} has {ws.sample_rate_hz} Hz x {len(ws.channel_names)}")
    split = calibration_split(ws, calibration_s)
    parts = {p: ds.split_indices(ws, split, p) for p in ds.PARTS}
    calib = np.concatenate([parts["train"], parts["val"]])
    test = parts["test"]
    mean_calib = ws.y[calib].mean(axis=0)

    ft_cfg = copy.deepcopy(cfg)
    ft_cfg["train"]["lr"] = float(cfg["train"]["lr"]) * 0.5
    ft_cfg["augment"]["rotate"] = 0.0  # the band's placement is what calibration learns
    from recorder.model.metrics import mpjpe
    val = parts["val"]
    err = (lambda p, t: float(np.abs(p - t).mean())) if ws.target == "angles" else mpjpe
    runs = {name: train(ft_cfg, ws, None, progress=progress, cancel=cancel, split=split, init=model.module,
                        init_norm=keep)
            for name, keep in (("fine-tuned, earlier normalisation", True), ("fine-tuned, refitted normalisation", False))}
    val_error = {name: err(_predict(r.predictor, ws.X[val]), ws.y[val]) for name, r in runs.items()}
    val_error["earlier model"] = err(model.predict(ws.X[val]), ws.y[val])
    chosen = min(val_error, key=val_error.get)
    tuned = runs.get(chosen) or runs["fine-tuned, earlier normalisation"]
    if chosen == "earlier model":  # the earlier weights and normalisation as they are
        tuned.predictor.load_state_dict(model.module.state_dict())
        tuned.meta.metrics = {p: _metrics_of(tuned.predictor, ws, parts[p], tuned.meta) for p in ("val", "test")}
    tuned.meta.calibration = {"init": str(init_dir), "calibration_s": float(calibration_s), "chosen": chosen,
                              "val_error": val_error}
    if out_dir is not None:
        from recorder.model.folder import save_model
        tuned.out_dir = Path(save_model(out_dir, tuned.predictor, tuned.meta))
    scratch = train(cfg, ws, None, cancel=cancel, split=split)
    ridge = baselines.fit_ridge(ws.X[parts["train"]], ws.y[parts["train"]])

    def score(pred):
        if ws.target == "angles":
            from recorder.dataset.angles import angle_metrics
            return angle_metrics(pred, ws.y[test], mean_calib, ws.target_names)
        return pose_metrics(pred, ws.y[test], mean_calib)

    metrics = {
        "calibrated": score(_predict(tuned.predictor, ws.X[test])),
        "earlier model, uncalibrated": score(model.predict(ws.X[test])),
        "from scratch on calibration": score(_predict(scratch.predictor, ws.X[test])),
        "ridge on calibration": score(baselines.predict(ridge, ws.X[test])),
        "mean pose of calibration": score(np.broadcast_to(mean_calib, ws.y[test].shape)),
    }
    report = {"metrics": metrics, "quality": tuned.meta.quality or {}, "calibration_s": float(calibration_s),
              "chosen": chosen, "val_error": tuned.meta.calibration["val_error"],
              "n_calibration": int(len(calib)), "n_test": int(len(test)), "init": str(init_dir),
              "out_dir": str(tuned.out_dir) if tuned.out_dir else None, "lag_s": ws.sessions[0].get("lag_s")}
    if tuned.out_dir is not None:
        import json
        (Path(tuned.out_dir) / "calibration.json").write_text(json.dumps(report, indent=1, default=float))
    return report


def _metrics_of(predictor, ws, idx, meta) -> dict:
    """Pose (or angle) metrics of ``predictor`` on windows idx, with the training mean of ``meta`` as baseline."""
    from recorder.model.training import evaluate_windows
    b = meta.baseline
    return evaluate_windows(predictor, ws, idx, "pose", np.asarray(b["angles_deg"] if "angles_deg" in b else b["pose_mm"]))


def _predict(predictor, X):
    from recorder.model.predict import predict_array
    return predict_array(predictor, X)


def format_calibration(rep: dict) -> str:
    """Markdown table of a calibration report (every ratio relative to the calibration mean pose)."""
    from recorder.model.metrics import format_metrics_table
    head = (f"calibration: first {rep['calibration_s']:g} s ({rep['n_calibration']} windows), tested on the rest "
            f"({rep['n_test']} windows); baseline = mean pose of the calibration seconds; calibrated = "
            f"{rep['chosen']} (lower validation error within the calibration seconds)\n")
    return head + format_metrics_table(rep["metrics"])
