"""Model quality: pose MPJPE against the mean-pose baseline on a synthetic session trained with the
default config, and gesture accuracy on the real Myo recordings (myo-readings dataset).

Both are deterministic given the seeds below (CPU, one thread for the Myo models): these figures are
quality, not timing, so the shared machine's load does not move them; only the seconds in the notes
are noisy.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .core import INFO, ROOT, SKIP, Context, Row

GROUP = "quality"
SUBJECT_SEED = 0  # the synthetic subject (schedule, mixing, hand size)
TRAIN_SEED = 0    # weights, batch order, augmentation
MYO_ROOT = ROOT.parent / "shared" / "data" / "emg" / "myo-readings"

#: The gesture protocol of tests/recorder/test_myo_gestures.py and docs/models.md.
GESTURE_CFG = {"task": "gesture", "model": {"name": "dense"},
               "data": {"window_ms": 400, "anchor": "grid", "grid_step_ms": 50, "transition_guard_ms": 300},
               "split": {"mode": "time", "val_fraction": 0.15, "test_fraction": 0.15},
               "train": {"epochs": 15, "threads": 1, "seed": TRAIN_SEED}}


def run(ctx: Context) -> list[Row]:
    import torch

    # One thread: the machine is shared, and an oversubscribed small LSTM crawls. Thread count
    # changes only the seconds in the notes (and float rounding), not what is learnt.
    torch.set_num_threads(1)
    return pose_rows(ctx) + realistic_rows(ctx) + jhu_rows(ctx) + gesture_rows(ctx)


# -- synthetic pose --------------------------------------------------------------------------------
def pose_rows(ctx: Context) -> list[Row]:
    from recorder.imports.synthetic_sessions import make_synthetic_session
    from recorder.model.training import DEFAULT_CONFIG, train

    duration = ctx.pick(300.0, 600.0)
    sess = make_synthetic_session(ctx.workdir / "quality-synthetic.h5", duration_s=duration, seed=SUBJECT_SEED)
    from recorder.dataset.windows import read_session
    # The session writer drops frames (and their landmarks) when its queue backs up on a loaded
    # machine, so the anchors, and the figures in their last digit, depend on load: say how many.
    n_frames = len(read_session(sess).frame_t)
    t, cpu = time.perf_counter(), time.process_time()
    # The default config; only the seed is pinned (it is the default too, stated for the record).
    res = train({"train": {"seed": TRAIN_SEED}}, [sess], ctx.workdir / "quality-pose-model")
    secs, cpu = time.perf_counter() - t, time.process_time() - cpu
    te, va = res.metrics["test"], res.metrics["val"]
    m = DEFAULT_CONFIG["model"]["name"]
    what = (f"{duration / 60:.0f} min synthetic session (subject seed {SUBJECT_SEED}), default config "
            f"({m}, {DEFAULT_CONFIG['data']['window_ms']:.0f} ms window), time split 70/15/15")
    fingers = ", ".join(f"{f} {v:.1f}" for f, v in te["per_finger_mm"].items())
    trained = (f"{len(res.history)} epochs (best {res.best_epoch}, stopped {res.stopped}) in {secs:.0f} s, "
               f"{te['n']} test windows; {n_frames} of {int(duration * 30) + 1} frames written")
    return [
        Row(GROUP, "pose: test MPJPE", te["mpjpe_mm"], "mm", note=f"{what}; per finger (mm): {fingers}"),
        Row(GROUP, "pose: mean-pose baseline MPJPE (same test windows)", te["baseline_mpjpe_mm"], "mm",
            note="predicting the training split's mean pose"),
        Row(GROUP, "pose: MPJPE / mean-pose baseline, test", te["ratio"], "ratio", "<= 0.3",
            note=trained + ("" if not ctx.quick else "; quick run: 5 min session, 45 s test block, so "
                            "noisier figures than the full run")),
        Row(GROUP, "pose: MPJPE / mean-pose baseline, val", va["ratio"], "ratio", "<= 0.3",
            note=f"val MPJPE {va['mpjpe_mm']:.2f} mm vs baseline {va['baseline_mpjpe_mm']:.2f} mm "
                 f"(early stopping watches val, so test is the unbiased figure)"),
        Row(GROUP, "pose: R^2, test", te["r2"], "", note="pooled over the non-wrist coordinates"),
        # The "10 min of data trains in under 2 min on the 2-core machine": torch runs on one
        # thread here, so process CPU time is the wall time of a machine nobody else is using (the
        # wall time on this shared machine is in the note).
        Row(GROUP, f"pose: default training of {duration / 60:.0f} min of data, CPU time", cpu, "s",
            "<= 120" if duration >= 600 else "", note=f"wall {secs:.0f} s at load {_load()}; {len(res.history)} "
            f"epochs; {duration / 60:.0f} min session, one thread"),
    ]


def _load() -> str:
    import os
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# -- real Myo gestures -----------------------------------------------------------------------------
def _main_errors(m: dict, k: int = 3) -> str:
    """The ``k`` largest off-diagonal confusion cells as 'true->predicted n'."""
    cm = np.asarray(m["confusion"])
    names = m["class_names"]
    off = [(int(cm[i, j]), names[i], names[j]) for i in range(len(names)) for j in range(len(names))
           if i != j and cm[i, j] > 0]
    off.sort(reverse=True)
    return ", ".join(f"{a}->{b} {n}" for n, a, b in off[:k]) or "none"


def gesture_rows(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    for hand in ("right", "left"):
        src = MYO_ROOT / f"_readings_{hand}_hand"
        files = sorted(src.rglob("*.txt")) if src.is_dir() else []
        if not files:
            reason = f"real Myo recordings not found under {src}"
            rows += [Row(GROUP, f"gesture ({hand} hand): test accuracy, {part}", None, status=SKIP, note=reason)
                     for part in ("guarded", "all windows")]
            continue
        rows += _hand_rows(ctx, hand, files)
    return rows


def _hand_rows(ctx: Context, hand: str, files: list[Path]) -> list[Row]:
    from recorder.dataset import windows as ds
    from recorder.imports.tables import import_myo_readings
    from recorder.model.training import evaluate_windows, train

    out = ctx.workdir / f"myo-{hand}"
    out.mkdir(parents=True, exist_ok=True)
    # One session per 60 s file (rest / that file's gesture every 5 s), so every file's held-out
    # last 15 % holds rest and its gesture and all 8 classes are tested.
    sessions = [import_myo_readings(f, out / f"{f.parent.name}-{f.stem}.h5") for f in files]
    t = time.perf_counter()
    res = train(GESTURE_CFG, sessions, out / "model")
    secs = time.perf_counter() - t
    g = res.metrics["test"]
    # The same model on every test window, including the 300 ms after each cue that the guard drops
    # (there the label has changed and the muscles not yet).
    dc = GESTURE_CFG["data"]
    ws_all = ds.build_windows(sessions, task="gesture", window_ms=dc["window_ms"], anchor=dc["anchor"],
                              grid_step_ms=dc["grid_step_ms"], class_names=res.meta.class_names,
                              transition_guard_ms=None, session_norm=res.meta.session_norm)
    idx = ds.split_indices(ws_all, ds.split_from_json(res.meta.split), "test")
    a = evaluate_windows(res.predictor, ws_all, idx, "gesture", majority=res.meta.baseline["class"])
    src = f"{len(files)} files x 60 s, {files[0].parent.name}"
    return [
        Row(GROUP, f"gesture ({hand} hand): test accuracy, transition guard 300 ms", g["accuracy"], "", ">= 0.95",
            note=f"{src}; dense model, 400 ms windows every 50 ms, last 15 % of each file held out; "
                 f"{g['n']} windows, balanced {g['balanced_accuracy']:.3f}, majority baseline "
                 f"{g['baseline_accuracy']:.3f}; main errors (true->pred): {_main_errors(g)}; trained in {secs:.0f} s"),
        Row(GROUP, f"gesture ({hand} hand): test accuracy, all windows", a["accuracy"], "", status=INFO,
            note=f"same model, {a['n']} windows incl. the 700 ms after each cue; balanced "
                 f"{a['balanced_accuracy']:.3f}; main errors: {_main_errors(a)}"),
    ]


# -- realistic synthetic subject: sessions with different band placement, calibration ------------
def realistic_rows(ctx: Context) -> list[Row]:
    """Three sessions of the realistic subject (different band rotation/placement, drifts, camera
    latency): within-session (val of the cross split) and new-session (test) ratios of the default
    model with the lag estimated per session; then a fourth session calibrated on its first 60 s."""
    from recorder.model.calibrate import calibrate
    from recorder.dataset.lag import estimate_session_lag, write_lag
    from recorder.model.training import train
    from recorder.imports.synthetic_sessions import make_synthetic_session
    from recorder.dataset import windows as ds
    import h5py, json

    duration = ctx.pick(240.0, 600.0)
    paths, lag_err, lag_ci = [], [], []
    for k in range(4):
        p = make_synthetic_session(ctx.workdir / f"realistic-{k}.h5", duration_s=duration, seed=SUBJECT_SEED,
                                   realism="realistic", session=k)
        r = estimate_session_lag(ds.read_session(p))
        est = r["lag_s"]
        with h5py.File(p) as f:
            truth = json.loads(f.attrs["settings"])["truth_lag_s"]
        write_lag(p, est, ci_s=r["ci_s"])
        lag_err.append((est - truth) * 1e3)
        lag_ci.append(tuple((c - truth) * 1e3 for c in r["ci_s"]))
        paths.append(p)
    t = time.perf_counter()
    # The default config: channel-rotation augmentation (0.5 electrode) made both figures worse here
    # (within 0.395, new session 0.728 vs 0.370 / 0.684 without; docs/models.md).
    res = train({"train": {"seed": TRAIN_SEED}}, paths[:3], ctx.workdir / "realistic-model")
    secs = time.perf_counter() - t
    va, te = res.metrics["val"], res.metrics["test"]
    rep = calibrate(ctx.workdir / "realistic-model", paths[3], ctx.workdir / "realistic-calibrated", calibration_s=60.0)
    cm = rep["metrics"]
    what = f"realistic subject, {duration / 60:.0f} min sessions, default model, lag estimated per session"
    return [
        Row(GROUP, "realistic: EMG-to-video lag error (max abs over 4 sessions)", float(np.max(np.abs(lag_err))), "ms",
            "<= 10", note="estimate - truth per session (ms): " + ", ".join(f"{e:+.1f}" for e in lag_err)
            + "; 95 % segment-bootstrap intervals - truth: " + ", ".join(f"[{a:+.0f}, {b:+.0f}]" for a, b in lag_ci)),
        Row(GROUP, "realistic: within-session ratio (val, last 15 % of sessions 1-2)", va["ratio"], "ratio", "<= 0.35",
            note=f"{what}; ridge ratio {va.get('ridge_ratio', float('nan')):.3f}; trained in {secs:.0f} s"),
        Row(GROUP, "realistic: new session without calibration (test, session 3)", te["ratio"], "ratio", status=INFO,
            note=f"ridge ratio {te.get('ridge_ratio', float('nan')):.3f}"),
        Row(GROUP, "realistic: new session after 60 s calibration", cm["calibrated"]["ratio"], "ratio", "<= 0.40",
            note="ratios to the mean pose of the 60 s: uncalibrated {:.3f}, from scratch {:.3f}, ridge {:.3f}".format(
                cm["earlier model, uncalibrated"]["ratio"], cm["from scratch on calibration"]["ratio"],
                cm["ridge on calibration"]["ratio"])),
    ]


# -- JHU finger angles (feature models; the loader is bench/jhu.py) --------------------------------
def _hgb(X: np.ndarray, Y: np.ndarray, iters: int = 100) -> list:
    """One gradient-boosted tree model per angle, absolute-error loss (the metric is a MAE),
    warm-startable so that a calibration adds trees fitted on the new session."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    return [HistGradientBoostingRegressor(loss="absolute_error", max_iter=iters, learning_rate=0.1,
                                          max_leaf_nodes=15, early_stopping=False, random_state=0,
                                          warm_start=True).fit(X, Y[:, k]) for k in range(Y.shape[1])]


def _hgb_predict(models: list, X: np.ndarray) -> np.ndarray:
    return np.column_stack([m.predict(X) for m in models])


def jhu_rows(ctx: Context) -> list[Row]:
    """Angle MAE / mean-angle baseline on the JHU recordings, imported with the documented command
    (recorder.imports.pose, 50 Hz, label cleaning on): the default network with angle targets within
    session B (train the first 70 %, test the last 20 %) beside the ridge; B's model calibrated on
    A's first 60 s, on the rest of A (baseline: the mean of those 60 s) beside the references; and
    a gradient-boosted feature model on the raw rows (bench/jhu.py) for comparison."""
    from . import jhu

    if not (jhu.JHU_ROOT / "session-b_emg.csv").is_file():
        return [Row(GROUP, "JHU: angle MAE / mean-angle baseline, within B", None, status=SKIP,
                    note=f"data not found under {jhu.JHU_ROOT}")]
    from recorder.model.calibrate import calibrate
    from recorder.imports.pose import import_paired
    from recorder.model.training import train

    paths = {}
    for k in ("a", "b"):
        paths[k], _ = import_paired(jhu.JHU_ROOT / f"session-{k}_emg.csv", jhu.JHU_ROOT / f"session-{k}_angles.csv",
                                    ctx.workdir / f"jhu-{k}.h5", resample_hz=50, hand="right")
    cfg = {"data": {"target": "angles", "clean": {"enabled": True}},
           "split": {"mode": "time", "val_fraction": 0.1, "test_fraction": 0.2},
           "train": {"seed": TRAIN_SEED, "threads": 1}}
    t0 = time.perf_counter()
    res = train(cfg, [paths["b"]], ctx.workdir / "jhu-b-model")
    secs = time.perf_counter() - t0
    te = res.metrics["test"]
    rep = calibrate(ctx.workdir / "jhu-b-model", paths["a"], ctx.workdir / "jhu-a-calibrated", calibration_s=60.0)
    cm = rep["metrics"]
    hgb_within, hgb_calib = _jhu_feature_model()
    return [
        Row(GROUP, "JHU: angle MAE / mean-angle baseline, within B (last 20 %)", te["ratio"], "ratio", "<= 0.65",
            note=f"default network ({res.meta.architecture_name}), angle targets, cleaning on; "
                 f"MAE {te['mae_deg']:.1f} vs {te['baseline_mae_deg']:.1f} deg; ridge ratio {te.get('ridge_ratio', float('nan')):.3f}; "
                 f"trained in {secs:.0f} s; boosted trees on the raw rows {hgb_within:.3f}"),
        Row(GROUP, "JHU: model from B on A without calibration", cm["earlier model, uncalibrated"]["ratio"], "ratio",
            status=INFO, note="baseline: mean of A's first 60 s, on the rest of A"),
        Row(GROUP, "JHU: model from B calibrated with A's first 60 s, on the rest of A", cm["calibrated"]["ratio"],
            "ratio", "<= 0.65",
            note=f"chosen: {rep['chosen']}; from scratch on the 60 s {cm['from scratch on calibration']['ratio']:.3f}, "
                 f"ridge on the 60 s {cm['ridge on calibration']['ratio']:.3f}; boosted trees stacked on B's "
                 f"trees {hgb_calib:.3f}"),
    ]


def _jhu_feature_model() -> tuple[float, float]:
    """Gradient-boosted trees (absolute error) on per-channel log RMS/MAV/WL over 0.1-0.8 s of the raw
    rows (repeats dropped, angle rows with 0/180 out): (within-B ratio, ratio on A after stacking on
    A's first 60 s with B's model's predictions as extra inputs)."""
    from . import jhu

    B, A = jhu.load("b"), jhu.load("a")
    F, ok = jhu.features(B)
    y, t = B["angles"][ok], B["t"][ok]
    a, b = t.min(), t.max()
    tr, te = t < a + 0.7 * (b - a), t >= a + 0.8 * (b - a)
    mB = _hgb(F[tr], y[tr])
    within = np.abs(_hgb_predict(mB, F[te]) - y[te]).mean() / np.abs(y[tr].mean(0) - y[te]).mean()
    FA, okA = jhu.features(A)
    yA, tA = A["angles"][okA], A["t"][okA]
    cal, rest = tA < tA.min() + 60.0, tA >= tA.min() + 60.8
    pB = _hgb_predict(mB, FA)
    mC = _hgb(np.hstack([FA[cal], pB[cal]]), yA[cal])
    calib = np.abs(_hgb_predict(mC, np.hstack([FA[rest], pB[rest]])) - yA[rest]).mean() / \
        np.abs(yA[cal].mean(0) - yA[rest]).mean()
    return float(within), float(calib)
