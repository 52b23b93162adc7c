"""Channel quality on synthetic arrays: flat and clipped channels are flagged, healthy ones are not."""
import numpy as np
import pytest

from recorder.capture.quality import BAD, GOOD, WARN, QualityThresholds, assess, thresholds_for


def _emg(n=1000, c=8, seed=0, scale=20.0):
    rng = np.random.default_rng(seed)
    return np.clip(np.round(rng.normal(0, scale, (n, c))), -128, 127).astype(np.int8)


def test_healthy_channels_are_good():
    q = assess(_emg(), thresholds_for("myo", np.int8))
    assert [c.level for c in q] == [GOOD] * 8
    assert all(15 < c.rms < 25 for c in q)


def test_flat_channel_flagged():
    x = _emg()
    x[:, 3] = 2  # constant: electrode off the skin
    q = assess(x, thresholds_for("myo", np.int8))
    assert q[3].flat and q[3].level == BAD and "flat" in q[3].reason
    assert all(c.level == GOOD for k, c in enumerate(q) if k != 3)


def test_clipped_channel_flagged():
    x = _emg()
    x[:, 5] = _emg(scale=300.0)[:, 5]  # saturates the int8 range
    x[:100, 6] = 127                   # 10 % at the rail
    x[:2, 7] = -128                    # 0.2 %: below the warning level
    q = assess(x, thresholds_for("myo", np.int8))
    assert q[5].level == BAD and q[5].clipping_pct > 30
    assert q[6].level == BAD and q[6].clipping_pct == pytest.approx(10.0)
    assert q[7].level == GOOD
    x[:10, 7] = -128                   # 1 %: amber
    assert assess(x, thresholds_for("myo", np.int8))[7].level == WARN


def test_cyton_rails_and_microvolt_flat_threshold():
    th = thresholds_for("cyton", np.int32, scale_to_uV=0.02235)
    assert th.hi == 2 ** 23 - 1 and th.lo == -(2 ** 23)
    assert th.flat_std == pytest.approx(0.5 / 0.02235)
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(0, 50 / 0.02235, (500, 2))).astype(np.int32)  # 50 uV noise
    x[:, 1] = th.hi                                                      # railed
    q = assess(x, th)
    assert q[0].level == GOOD
    assert q[1].level == BAD and "clipping" in q[1].reason


def test_float_stream_has_no_clipping_and_empty_window_is_bad():
    th = thresholds_for("lsl", np.float32)
    assert th.lo is None
    q = assess(np.full((100, 2), 1e6, np.float32), QualityThresholds(flat_std=1e-3))
    assert q[0].clipping_pct == 0 and q[0].flat
    assert [c.reason for c in assess(np.zeros((0, 3)), th)] == ["no data"] * 3
    with pytest.raises(ValueError):
        assess(np.zeros(10), th)
