"""bench/landmark_jitter.py: the statistics that ground the realistic subject's landmark jitter."""

from pathlib import Path

import numpy as np
import pytest

from bench.landmark_jitter import hagrid_folder, measure, photo_stats


def test_photo_stats_separate_the_common_shift_from_each_landmarks_own():
    rng = np.random.default_rng(0)
    hand = rng.normal(0, 40, (21, 3))
    f = 4000
    common = rng.normal(0, 1, (f, 1, 3)) * [1.0, 2.0, 3.0]
    own = rng.normal(0, 0.5, (f, 21, 3))
    w = hand + own + np.concatenate([np.zeros((f, 1, 3)), np.repeat(common, 20, 1)], 1) + 7.0  # any origin
    w[::50] = np.nan                                               # frames without a hand are skipped
    s = photo_stats(w)
    # a landmark's own noise, relative to a wrist that has its own too: std sqrt(2) x 0.5, of which
    # the wrist's part (0.5) is shared by all 20 and so counts as common
    np.testing.assert_allclose(s["landmark"], 0.5 * np.sqrt(19 / 20), rtol=0.05)
    np.testing.assert_allclose(s["common"], np.sqrt(np.array([1, 4, 9]) + 0.25 + 0.25 / 20), rtol=0.05)
    assert abs(s["lag1"]) < 0.05 and s["found"] == pytest.approx(0.98)
    assert photo_stats(w[:10]) is None                             # too few frames to say


@pytest.mark.skipif(hagrid_folder() is None, reason="real hand photos (../shared/data/hands/hagrid) absent")
def test_mediapipe_jitter_on_real_photos_is_a_few_mm_and_grows_when_the_hand_moves():
    pytest.importorskip("mediapipe")
    still = measure(300, 30, limit=3, log=lambda *_: None)
    moving = measure(300, 30, motion_px=8, motion_scale=0.04, limit=3, log=lambda *_: None)
    assert len(still["photos"]) == 3 and "v2_heart" in still["left_out"]   # a two-hand photo
    for r in (still, moving):
        assert r["summary"]["found"] > 0.9
        assert np.all((r["summary"]["total"] > 0.05) & (r["summary"]["total"] < 10)), r["summary"]["total"]
    assert np.all(moving["summary"]["total"] > still["summary"]["total"])
