"""Label cleaning rules (issue 10): each rule catches its fault and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from recorder.dataset import windows as ds
from recorder.dataset.clean import RULES, clean_mask, smooth


def _hands(F=60):
    t = np.arange(F) / 30.0
    base = np.zeros((21, 3))
    for f, b in enumerate((1, 5, 9, 13, 17)):
        for k in range(4):
            base[b + k] = (20.0 * (f - 2), 30.0 + 20.0 * k, 0.0)
    w = np.repeat(base[None], F, axis=0)
    w[:, 8, 2] = 10 * np.sin(t)  # a slow movement is never flagged
    return t, w


def test_each_rule_flags_its_frame():
    t, w = _hands()
    score = np.full(len(t), 0.9)
    hand = np.array(["Right"] * len(t))
    w[5, 8] += (0, 300.0, 0)      # fingertip 300 mm away for one frame: bone length and a jump
    score[10] = 0.2
    hand[20] = "Left"
    w[30] = np.nan                # no hand: counted by no rule
    m, c = clean_mask(t, w, score, hand)
    assert m[5] & RULES["bone_length"] and m[5] & RULES["too_fast"]
    assert m[10] == RULES["low_score"] and m[20] == RULES["wrong_hand"]
    assert m[30] == 0 and c["removed"] == 3 and c["frames"] == len(t)
    assert (m[[i for i in range(len(t)) if i not in (5, 10, 20)]] == 0).all()
    # Configurable: a stated hand, a laxer score.
    m, c = clean_mask(t, w, score, hand, config={"min_score": 0.1, "hand": "Left"})
    assert not m[10] & RULES["low_score"] and m[0] & RULES["wrong_hand"] and not m[20] & RULES["wrong_hand"]


def test_angle_glitches_and_spikes():
    t = np.arange(50) / 20.0
    a = np.stack([90 + 10 * np.sin(t), 120 + 0 * t], axis=1)
    a[7, 0] = 180.0
    a[15, 1] = 0.0
    a[30, 0] += 60  # out and back within 50 ms: 1200 deg/s
    a[40:, 1] += 40  # a step that stays: a real fast movement, only the first frame of it is fast
    m, c = clean_mask(t, angles=a)
    assert m[7] & RULES["angle_glitch"] and m[15] & RULES["angle_glitch"] and m[30] & RULES["too_fast"]
    assert not m[40:].any()
    assert c["angle_glitch"] == 2 and c["too_fast"] >= 1


def test_smoothing_runs_between_bad_frames():
    rng = np.random.default_rng(0)
    y = np.sin(np.arange(100) / 10.0)[:, None] + rng.normal(0, 0.1, (100, 1))
    good = np.ones(100, bool)
    good[50] = False
    y[50] = np.nan
    ys = smooth(y, good, 9)
    assert np.isnan(ys[50]).all() and np.isfinite(ys[good]).all()
    assert np.abs(ys[good] - np.sin(np.arange(100) / 10.0)[good, None]).mean() < \
        np.abs(y[good] - np.sin(np.arange(100) / 10.0)[good, None]).mean()
    with pytest.raises(ValueError, match="odd"):
        smooth(y, good, 4)


def test_build_windows_reports_cleaning_counts():
    rate, F = 200.0, 120
    t = np.arange(int(F / 30 * rate) + 400) / rate
    ft = 1.0 + np.arange(F) / 30.0
    ft = ft[ft < t[-1]]
    ang = np.full((len(ft), 2), 100.0, np.float32)
    ang[::7, 0] = 180.0
    s = ds.SessionArrays(name="s", sample_rate_hz=rate, channel_names=["a"], emg_t=t, emg=np.zeros((len(t), 1), np.float32),
                         frame_t=ft, world=np.full((len(ft), 21, 3), np.nan, np.float32), angles=ang,
                         angle_names=["thumb", "index"])
    ws = ds.build_windows([s], window_ms=100, target="angles", clean={"enabled": True})
    n_bad = len(range(0, len(ft), 7))
    assert ws.clean_counts["angle_glitch"] == n_bad and ws.clean_counts["removed"] == n_bad
    assert not (ws.frame % 7 == 0).any()
    ws = ds.build_windows([s], window_ms=100, target="angles")
    assert ws.clean_counts is None and (ws.frame % 7 == 0).any()
