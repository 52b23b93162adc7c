"""The synthetic subject: deterministic, anatomically consistent, and its EMG really carries the pose."""

import threading

import numpy as np
import pytest

from recorder.sources.synthetic import GESTURES, MUSCLES, POSES, SyntheticEmgSource, SyntheticSubject
from recorder.core.types import FINGERS, HAND_CONNECTIONS

TIPS = [4, 8, 12, 16, 20]


@pytest.fixture(scope="module")
def subject():
    return SyntheticSubject(seed=0, t_origin=100.0)


@pytest.fixture(scope="module")
def one_loop(subject):
    """(t, emg) over one full schedule loop at 200 Hz."""
    t = subject.t_origin + np.arange(0, subject.period_s, 1 / 200)
    return t, subject.emg(t)


def test_deterministic_and_stateless():
    a = SyntheticSubject(seed=3, t_origin=5.0)
    b = SyntheticSubject(seed=3, t_origin=5.0)
    c = SyntheticSubject(seed=4, t_origin=5.0)
    t = 5.0 + np.arange(0, 4.0, 1 / 200)
    np.testing.assert_array_equal(a.emg(t), b.emg(t))
    np.testing.assert_array_equal(a.pose_world_mm(t), b.pose_world_mm(t))
    assert a.schedule == b.schedule
    assert a.schedule != c.schedule and not np.allclose(a.emg(t), c.emg(t))
    # Consecutive calls join seamlessly, in any order: the signal is a function of time alone.
    starts = list(range(0, len(t), 37))[::-1]  # chunks computed in reverse order
    parts = {i: a.emg(t[i:i + 37]) for i in starts}
    np.testing.assert_allclose(np.concatenate([parts[i] for i in sorted(parts)]), b.emg(t), atol=1e-9)
    later = a.emg(t[400:])
    np.testing.assert_allclose(later, b.emg(t)[400:], atol=1e-9)


def test_schedule_covers_all_movements(subject):
    names = {n for _, _, n in subject.schedule}
    assert {"rest", "open", "close", *GESTURES} <= names
    assert {f"flex_{f}" for f in FINGERS} <= names
    starts = [s for s, _, _ in subject.schedule]
    ends = [e for _, e, _ in subject.schedule]
    assert starts[0] == 0.0 and ends[-1] == pytest.approx(subject.period_s)
    assert starts[1:] == ends[:-1]  # contiguous
    held = np.diff(starts)
    assert held.min() >= 1.2 and held.max() <= 3.6  # 0.5 s transition + 0.8..3 s hold
    # gesture(t) agrees with the schedule, and it loops.
    s, e, name = subject.schedule[5]
    t = subject.t_origin + (s + e) / 2
    assert subject.gesture([t, t + subject.period_s]) == [name, name]
    labels = subject.segments_between(subject.t_origin + s + 0.1, subject.t_origin + e + 1.0)
    assert labels[0][2] == name and len(labels) == 2


def test_bone_lengths_constant_and_wrist_at_origin(subject):
    t = subject.t_origin + np.linspace(0, subject.period_s, 400)
    w32 = subject.pose_world_mm(t)
    assert w32.shape == (400, 21, 3) and w32.dtype == np.float32
    w = w32.astype(np.float64)
    np.testing.assert_allclose(w[:, 0], 0.0, atol=1e-6)
    for a, b in HAND_CONNECTIONS:
        length = np.linalg.norm(w[:, a] - w[:, b], axis=-1)
        assert length.std() < 0.01, (a, b, length.std())
        assert 8 < length.mean() < 95, (a, b, length.mean())
    # Adult hand: wrist to middle fingertip with the fingers straight, ~170-200 mm.
    k = [i for i, g in enumerate(subject.gesture(t)) if g == "palm"]
    reach = np.linalg.norm(w[k, 12], axis=-1)
    assert 165 < reach.mean() < 205


def test_gesture_shapes(subject):
    def spread(name):
        s, e, _ = next(seg for seg in subject.schedule if seg[2] == name)
        t = subject.t_origin + np.linspace(s + 0.6, e, 20)
        return subject.pose_world_mm(t)

    palm, fist, point = spread("palm"), spread("fist"), spread("point")
    d = lambda w, j: np.linalg.norm(w[:, j], axis=-1).mean()  # noqa: E731
    assert np.mean([d(palm, j) for j in TIPS]) > np.mean([d(fist, j) for j in TIPS]) + 50
    assert d(point, 8) > d(point, 12) + 50  # index straight, middle curled
    pinch = spread("pinch")
    assert np.linalg.norm(pinch[:, 4] - pinch[:, 8], axis=-1).mean() < 30


def test_image_landmarks_in_frame(subject):
    t = subject.t_origin + np.linspace(0, subject.period_s, 300)
    im = subject.image_landmarks(t, 640, 480)
    assert im.shape == (300, 21, 3) and im.dtype == np.float32
    assert im[..., :2].min() > 0.0 and im[..., :2].max() < 1.0
    assert (im[:, 12, 1] < im[:, 0, 1]).mean() > 0.95  # fingers up: middle tip above the wrist


def test_emg_amplitude_and_band(subject, one_loop):
    t, x = one_loop
    assert x.shape == (len(t), 8)
    std = x.std(axis=0)
    assert np.all((std > 5) & (std < 40)), std
    assert np.abs(x).max() <= 127 and (np.abs(x) >= 127).mean() < 1e-3  # clip-safe int8
    g = np.array(subject.gesture(t))
    rest_std, fist_std = x[g == "rest"].std(), x[g == "fist"].std()
    assert rest_std < 8 and fist_std > 2 * rest_std, (rest_std, fist_std)
    # Band-limited: nearly all power in 20-90 Hz at 200 Hz sampling.
    f = np.fft.rfftfreq(len(x), 1 / 200)
    p = (np.abs(np.fft.rfft(x, axis=0)) ** 2).sum(axis=1)
    assert p[(f >= 18) & (f <= 92)].sum() / p.sum() > 0.9
    # At 2 kHz the band widens (up to 450 Hz) instead of staying at 90 Hz.
    t2 = subject.t_origin + np.arange(0, 2.0, 1 / 2000)
    x2 = subject.emg(t2, sample_rate_hz=2000)
    f2 = np.fft.rfftfreq(len(x2), 1 / 2000)
    p2 = (np.abs(np.fft.rfft(x2, axis=0)) ** 2).sum(axis=1)
    assert p2[f2 > 150].sum() / p2.sum() > 0.4


def test_activations_follow_flexion(subject):
    assert len(MUSCLES) == 16 and subject.mixing.shape == (8, 16) and (subject.mixing > 0).all()
    s, e, _ = next(seg for seg in subject.schedule if seg[2] == "flex_index")
    a = subject.activations(subject.t_origin + np.linspace(s + 0.7, e - 0.05, 10))
    assert a.min() >= 0 and a.max() <= 1
    flexors = a[:, 0::2].mean(axis=0)
    assert flexors.argmax() == 1 and flexors[1] > 0.5  # the index flexor works, the others rest


def _rms_features(subject, k, win=40):
    t = subject.t_origin + k * subject.period_s + np.arange(int(subject.period_s * 200) // win * win) / 200
    x = subject.emg(t)
    n = len(t) // win
    rms = np.sqrt((x.reshape(n, win, -1) ** 2).mean(axis=1))
    flex = subject.pose_params(t.reshape(n, win).mean(axis=1))[:, :5]
    return rms, flex


@pytest.mark.parametrize("seed", [0, 1])
def test_emg_is_learnable(seed):
    """A linear model on 200 ms RMS envelopes, fitted on one loop of the schedule, explains most of
    the finger-flexion variance of the next loop (different noise and jitter)."""
    subject = SyntheticSubject(seed=seed, t_origin=0.0)
    (Xa, Ya), (Xb, Yb) = _rms_features(subject, 0), _rms_features(subject, 1)
    A = np.c_[Xa, np.ones(len(Xa))]
    coef, *_ = np.linalg.lstsq(A, Ya, rcond=None)
    pred = np.c_[Xb, np.ones(len(Xb))] @ coef
    r2 = 1 - ((pred - Yb) ** 2).sum(axis=0) / ((Yb - Yb.mean(axis=0)) ** 2).sum(axis=0)
    # Measured: seed 0 [0.73 0.59 0.82 0.88 0.87], seed 1 [0.66 0.84 0.82 0.89 0.85].
    assert r2.mean() > 0.65 and r2.min() > 0.4, r2
    # And the pose is not learnable from EMG of another time (guards against a leak in the test).
    shuffled = np.c_[np.roll(Xb, len(Xb) // 2, axis=0), np.ones(len(Xb))] @ coef
    r2_bad = 1 - ((shuffled - Yb) ** 2).sum(axis=0) / ((Yb - Yb.mean(axis=0)) ** 2).sum(axis=0)
    assert r2_bad.mean() < 0.2


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_synthetic_source_16ch_2khz_without_loss(dtype):
    src = SyntheticEmgSource(sample_rate_hz=2000, n_channels=16, dtype=dtype, seed=1)
    chunks, enough = [], threading.Event()

    def sink(chunk):
        chunks.append(chunk)
        if sum(len(c) for c in chunks) >= 1600:
            enough.set()

    src.start(sink)
    try:
        assert enough.wait(5.0), "no 0.8 s of data within 5 s"
    finally:
        src.stop()
    st = src.status()
    assert st.state.value == "stopped" and st.samples_lost == 0 and st.last_error == ""
    idx = np.concatenate([c.first_index + np.arange(len(c)) for c in chunks])
    np.testing.assert_array_equal(idx, np.arange(len(idx)))  # contiguous, nothing lost
    x = np.concatenate([c.x for c in chunks])
    assert x.shape[1] == 16 and x.dtype == np.dtype(dtype)
    assert np.median([len(c) for c in chunks]) <= 40  # ~10 ms chunks
    truth = src.truth_times(0, len(x))
    t = np.concatenate([c.t for c in chunks])
    assert np.abs(t - truth).max() < 0.01  # fitted clock vs true sample times (measured < 1 ms)
    expected = src.subject.emg(truth, sample_rate_hz=2000)
    if dtype is np.int16:
        expected = np.round(expected)
    np.testing.assert_allclose(x, expected.astype(dtype), atol=1e-3)


def test_bad_arguments():
    with pytest.raises(ValueError):
        SyntheticSubject(n_channels=0)
    with pytest.raises(ValueError, match="channels"):
        SyntheticEmgSource(subject=SyntheticSubject(n_channels=8), n_channels=16)
    with pytest.raises(ValueError, match="dtype"):
        SyntheticEmgSource(dtype=np.int8)
    assert set(POSES) >= set(GESTURES)


def test_perform_moves_the_subject_to_a_pose_and_back():
    """Demo hook: perform(name) holds a POSES pose (after a 0.5 s transition), perform(None)
    returns to the schedule; unknown names change nothing."""
    import numpy as np

    from recorder.sources.synthetic import POSES, SyntheticSubject

    s, ref = SyntheticSubject(seed=0, t_origin=0.0), SyntheticSubject(seed=0, t_origin=0.0)
    assert s.perform("point", 10.0) and not s.perform("no-such-pose", 10.0)
    t = np.array([9.0, 10.8, 12.0])
    q, q0 = s.pose_params(t), ref.pose_params(t)
    assert np.allclose(q[0], q0[0])                                  # before: the schedule
    assert np.allclose(q[1:, :5], np.asarray(POSES["point"])[:5], atol=0.1)
    s.perform(None, 13.0)
    assert np.allclose(s.pose_params(np.array([13.8])), ref.pose_params(np.array([13.8])))
