"""Metrics on hand-made numbers."""
import numpy as np
import pytest

from recorder.model.metrics import (confusion_matrix, format_confusion, format_metrics_table, gesture_metrics, mpjpe,
                              pose_metrics, r2_score)
from recorder.core.types import FINGERS


def _poses(n=4, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.normal(0, 30, size=(n, 21, 3))
    p[:, 0] = 0.0  # wrist-relative
    return p


def test_mpjpe_constant_offset_is_its_length():
    true = _poses()
    pred = true.copy()
    pred[:, 1:] += [3.0, 4.0, 0.0]  # every non-wrist joint off by 5 mm
    pred[:, 0] += [100.0, 0, 0]  # the wrist is not scored
    assert mpjpe(pred, true) == pytest.approx(5.0)
    assert mpjpe(pred.reshape(4, 63), true.reshape(4, 63)) == pytest.approx(5.0)


def test_per_finger_and_overall():
    true = _poses()
    pred = true.copy()
    pred[:, list(FINGERS["index"])] += [0.0, 0.0, 8.0]
    m = pose_metrics(pred, true, baseline_pose=true.mean(axis=0))
    assert m["per_finger_mm"]["index"] == pytest.approx(8.0)
    for f in ("thumb", "middle", "ring", "pinky"):
        assert m["per_finger_mm"][f] == pytest.approx(0.0)
    assert m["mpjpe_mm"] == pytest.approx(8.0 * 4 / 20)
    assert m["n"] == 4


def test_baseline_and_ratio():
    true = _poses(n=2)
    base = true.mean(axis=0)
    # Two poses symmetric about their mean: the baseline error is half their distance, per joint.
    d = np.linalg.norm(true[0, 1:] - true[1, 1:], axis=-1) / 2
    m = pose_metrics(true, true, base)
    assert m["baseline_mpjpe_mm"] == pytest.approx(d.mean())
    assert m["mpjpe_mm"] == 0.0 and m["ratio"] == 0.0 and m["r2"] == pytest.approx(1.0)
    m2 = pose_metrics(np.broadcast_to(base, true.shape), true, base)
    assert m2["ratio"] == pytest.approx(1.0)
    assert m2["r2"] == pytest.approx(0.0)


def test_r2_hand_made():
    true = np.zeros((2, 21, 3))
    true[0, 1:, 0], true[1, 1:, 0] = 1.0, -1.0  # variance 1 per x coordinate, 0 elsewhere
    pred = true * 0.5  # residual 0.25 per x coordinate
    assert r2_score(pred, true) == pytest.approx(1 - 0.25 / 1.0)


def test_shape_errors():
    with pytest.raises(ValueError):
        mpjpe(np.zeros((3, 20, 3)), np.zeros((3, 20, 3)))
    with pytest.raises(ValueError):
        mpjpe(np.zeros((3, 63)), np.zeros((4, 63)))


def test_gesture_metrics_hand_made():
    names = ["rest", "fist", "open"]
    true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 0, 1, 1, 1, 2, 0])
    m = gesture_metrics(pred, true, names, baseline_class=0)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["confusion"] == [[3, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class_recall"] == {"rest": 0.75, "fist": 1.0, "open": 0.5}
    assert m["balanced_accuracy"] == pytest.approx((0.75 + 1.0 + 0.5) / 3)
    assert m["baseline_accuracy"] == pytest.approx(4 / 8)
    probs = np.eye(3)[pred]  # probabilities give the same answer
    assert gesture_metrics(probs, true, names)["accuracy"] == m["accuracy"]
    # A class absent from the data has no recall (not zero).
    m3 = gesture_metrics(np.array([0, 0]), np.array([0, 0]), names)
    assert m3["per_class_recall"]["fist"] is None and m3["balanced_accuracy"] == 1.0
    assert confusion_matrix([1], [2], 3)[1, 2] == 1


def test_tables_render():
    true = _poses()
    pm = pose_metrics(true + 1.0, true, true.mean(0))
    gm = gesture_metrics(np.array([0, 1]), np.array([0, 0]), ["a", "b"], 0)
    table = format_metrics_table({"model": pm, "clf": gm})
    assert "MPJPE" in table and "accuracy" in table and "| model |" in table and "| clf |" in table
    assert "recall" in format_confusion(gm)
