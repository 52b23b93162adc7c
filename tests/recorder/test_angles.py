"""Joint-angle targets (issue 10): formulas, dataset targets, training and evaluation in degrees."""

from __future__ import annotations

import numpy as np
import pytest

from recorder.dataset import windows as ds
from recorder.dataset.angles import ANGLE_NAMES, angle_metrics, angles_from_landmarks, finger_of
from recorder.model.folder import evaluate, load_model
from recorder.imports.synthetic_sessions import make_synthetic_session
from recorder.model.training import train


def _straight_hand() -> np.ndarray:
    """Wrist at 0, five straight fingers along +y, side by side along x (mm)."""
    w = np.zeros((21, 3))
    for f, base in enumerate((1, 5, 9, 13, 17)):
        for k in range(4):
            w[base + k] = (20.0 * (f - 2), 30.0 + 20.0 * k, 0.0)
    return w


def test_straight_fingers_are_zero_and_a_right_angle_is_ninety():
    w = _straight_hand()
    a = angles_from_landmarks(w[None])[0]
    names = dict(zip(ANGLE_NAMES, a))
    # PIP/DIP along one line: 0; MCP: the wrist->MCP bone is not along the finger for side fingers.
    for f in ("index", "middle", "ring", "pinky"):
        assert names[f"{f}_pip"] == pytest.approx(0, abs=1e-3) and names[f"{f}_dip"] == pytest.approx(0, abs=1e-3)
    assert names["middle_mcp"] == pytest.approx(0, abs=1e-3)  # middle finger is on the wrist's line
    assert names["spread_index_middle"] == pytest.approx(0, abs=1e-3)
    # Bend the index PIP by 90 deg: the middle and distal phalanges point along +z.
    w[7] = w[6] + (0, 0, 20.0)
    w[8] = w[7] + (0, 0, 20.0)
    a = dict(zip(ANGLE_NAMES, angles_from_landmarks(w[None])[0]))
    assert a["index_pip"] == pytest.approx(90, abs=1e-3) and a["index_dip"] == pytest.approx(0, abs=1e-3)
    # Spread the index by 30 deg in the palm plane.
    w = _straight_hand()
    r = 20.0 * np.arange(1, 4)[:, None] * np.array([-np.sin(np.pi / 6), np.cos(np.pi / 6), 0])
    w[6:9] = w[5] + r
    a = dict(zip(ANGLE_NAMES, angles_from_landmarks(w[None])[0]))
    assert a["spread_index_middle"] == pytest.approx(30, abs=1e-3)


def test_angles_do_not_depend_on_rotation_or_units_and_nan_passes_through():
    rng = np.random.default_rng(0)
    w = _straight_hand() + rng.normal(0, 5, (21, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    a0 = angles_from_landmarks(w[None])
    a1 = angles_from_landmarks((w @ q.T * 1e-3)[None] + 7.0)
    np.testing.assert_allclose(a0, a1, atol=1e-3)
    nan = np.full((1, 21, 3), np.nan)
    assert np.isnan(angles_from_landmarks(nan)).all()
    with pytest.raises(ValueError, match=r"\(F, 21, 3\)"):
        angles_from_landmarks(np.zeros((2, 20, 3)))


def test_angle_metrics_per_finger_beside_the_baseline():
    names = ["thumb", "index", "little"]  # imported column names map onto fingers
    true = np.array([[10.0, 20, 30], [30, 40, 50]])
    pred = true + [1.0, -2, 3]
    m = angle_metrics(pred, true, true.mean(0), names)
    assert m["mae_deg"] == pytest.approx(2.0) and m["baseline_mae_deg"] == pytest.approx(10.0)
    assert m["ratio"] == pytest.approx(0.2)
    assert m["per_finger_deg"] == {"thumb": 1.0, "index": 2.0, "pinky": 3.0}
    assert finger_of("spread_index_middle") == "spread" and finger_of("ring_pip") == "ring"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return make_synthetic_session(tmp_path_factory.mktemp("syn") / "s.h5", duration_s=60, seed=2)


def test_dataset_angle_targets_from_landmarks_and_imported(session):
    s = ds.read_session(session)
    ws = ds.build_windows([s], window_ms=150, target="angles")
    assert ws.y.shape[1] == len(ANGLE_NAMES) and ws.target_names == ANGLE_NAMES and ws.target == "angles"
    np.testing.assert_allclose(ws.y, angles_from_landmarks(s.world[ws.frame]), atol=1e-4)
    assert ws.subset(np.arange(5)).target_names == ANGLE_NAMES
    # Imported angles are used as they are, and frames whose angles are NaN are not anchors.
    ang = np.linspace(0, 90, len(s.frame_t), dtype=np.float32)[:, None].repeat(2, 1)
    ang[::10] = np.nan
    s2 = ds.SessionArrays(name="imp", sample_rate_hz=s.sample_rate_hz, channel_names=s.channel_names, emg_t=s.emg_t, emg=s.emg,
                          frame_t=s.frame_t, world=np.full_like(s.world, np.nan), angles=ang,
                          angle_names=["thumb", "index"])
    ws2 = ds.build_windows([s2], window_ms=150, target="angles")
    assert ws2.target_names == ["thumb", "index"] and not (ws2.frame % 10 == 0).any()
    np.testing.assert_array_equal(ws2.y, ang[ws2.frame])
    with pytest.raises(ds.DatasetError, match="differ"):
        ds.build_windows([s, s2], window_ms=150, target="angles")
    with pytest.raises(ds.DatasetError, match="target must be"):
        ds.build_windows([s], target="euler")


def test_training_on_angles_reports_mae_beside_the_mean_angle_baseline(session, tmp_path):
    cfg = {"model": {"name": "dense", "params": {"hidden": [64, 64]}},
           "data": {"window_ms": 150, "target": "angles"},
           "train": {"epochs": 6, "batch_size": 64, "threads": 1, "patience": 50, "lr": 3e-3}}
    events = []
    res = train(cfg, [session], tmp_path / "m", progress=events.append)
    m = res.metrics["test"]
    assert set(m["per_finger_deg"]) == {"thumb", "index", "middle", "ring", "pinky", "spread"}
    assert m["ratio"] < 0.9, m  # the synthetic subject's EMG carries the pose
    assert "val_mae_deg" in [e for e in events if e["event"] == "epoch"][0]
    assert res.meta.targets["kind"] == "joint_angles_deg" and res.meta.n_outputs == len(ANGLE_NAMES) and res.meta.is_angles
    model = load_model(tmp_path / "m")
    r = evaluate(model, [session])
    assert r["metrics"]["mae_deg"] == pytest.approx(m["mae_deg"], rel=1e-4)
    assert r["metrics"]["baseline_mae_deg"] == pytest.approx(m["baseline_mae_deg"], rel=1e-4)


def test_live_preview_refuses_an_angle_model_clearly(session, tmp_path):
    from recorder.live.predictor import LivePredictor
    cfg = {"model": {"name": "dense", "params": {"hidden": [16]}}, "data": {"window_ms": 150, "target": "angles"},
           "train": {"epochs": 1, "batch_size": 64, "threads": 1}}
    train(cfg, [session], tmp_path / "m")
    with pytest.raises(ValueError, match="joint-angle model"):
        LivePredictor(tmp_path / "m")


def test_calibration_scores_an_unchanged_angle_model_against_its_mean_angles(session, tmp_path):
    """When calibration keeps the earlier model, its metrics are recomputed with the model's own
    baseline; a joint-angle model keeps mean angles (``angles_deg``), not ``pose_mm``."""
    from recorder.model.calibrate import _metrics_of
    cfg = {"model": {"name": "dense", "params": {"hidden": [16]}}, "data": {"window_ms": 150, "target": "angles"},
           "train": {"epochs": 1, "batch_size": 64, "threads": 1}}
    res = train(cfg, [session], tmp_path / "m")
    model = load_model(tmp_path / "m")
    ws = ds.build_windows([session], window_ms=150, target="angles")
    m = _metrics_of(model.module, ws, np.arange(len(ws.y)), res.meta)
    assert "mae_deg" in m and m["baseline_mae_deg"] > 0
