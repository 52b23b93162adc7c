"""Issue 11 item 1: the realistic subject's camera effects live in one place (CameraEffects), used by
the live SyntheticCamera and by make_synthetic_session; --realism reaches the synthetic sources."""

import signal
import time

import numpy as np
import pytest

from recorder.capture.camera import SyntheticCamera
from recorder.capture.landmarks import truth_landmarks
from recorder.core.types import Landmarks
from recorder.imports.synthetic_sessions import T0_HOST, make_synthetic_session
from recorder.session.format import SessionReader
from recorder.sources.synthetic import (MEDIAPIPE_JITTER_COMMON_MM, MEDIAPIPE_JITTER_LANDMARK_MM, REALISTIC,
                                       CameraEffects, SyntheticSubject)

#: The realistic preset before MediaPipe's measured jitter replaced its 3 mm independent noise: the
#: oracle below reproduces the landmark code of that time.
OLD_PRESET = {"preset": "realistic", "landmark_jitter": 0.0, "landmark_noise_mm": 3.0}


def _moving_times(subject: SyntheticSubject, n: int = 12) -> np.ndarray:
    """Mid-transition times (host s) of the first segments whose pose differs from the one before:
    the hand moves fast there, so the moment a frame shows is unambiguous."""
    out = []
    for (s, _, name), (_, _, prev) in zip(subject.schedule[1:], subject.schedule):
        if name != prev:
            out.append(subject.t_origin + s + 0.25)
    return np.asarray(out[:n])


def _shown_delay(subject: SyntheticSubject, t: float, world: np.ndarray, step_s: float = 0.001) -> float:
    """The delay d (s, 0..200 ms) for which the subject's hand at t - d best matches ``world``."""
    d = np.arange(0.0, 0.2 + step_s / 2, step_s)
    err = np.abs(subject.pose_world_mm(t - d) - world[None]).mean(axis=(1, 2))
    return float(d[int(np.argmin(err))])


@pytest.mark.parametrize("session", [0, 3])
def test_live_camera_with_latency_shows_the_hand_latency_before_its_stamp(session):
    subject = SyntheticSubject(seed=0, t_origin=0.0, realism={"camera_latency": True}, session=session)
    lat = subject.camera_latency_s
    assert 0.03 <= lat <= 0.12
    cam = SyntheticCamera(subject, size=(64, 48))
    delays = []
    for t in _moving_times(subject):
        image, world, img_lm = cam.capture(t)
        delays.append(_shown_delay(subject, t, world))
        # The image is rendered from the hand shown, and the image landmarks are that hand's.
        shown = t - delays[-1]
        assert np.abs(img_lm - subject.image_landmarks([shown], 64, 48)[0]).max() < 2e-3
    delays = np.asarray(delays)
    assert np.all(np.abs(delays - lat) <= 0.0105), (delays, lat)    # +- 10 ms jitter, 1 ms grid
    assert delays.std() > 0.001                                       # and the jitter is there


def test_live_camera_thread_stamps_frames_latency_after_what_they_show():
    # The capture thread (what the app and `emgrec record` run): frames stamped at now() show the
    # hand of now() - latency; the subject is placed so the hand moves during the run.
    probe = SyntheticSubject(seed=1, t_origin=0.0)
    seg = next(s for (s, _, n), (_, _, p) in zip(probe.schedule[1:], probe.schedule) if n != p)
    subject = SyntheticSubject(seed=1, t_origin=time.monotonic() - seg + 0.15, realism={"camera_latency": True})
    lat = subject.camera_latency_s
    frames = []
    cam = SyntheticCamera(subject, fps=30, size=(64, 48))
    cam.start(frames.append)
    time.sleep(0.3)
    cam.stop()
    assert len(frames) >= 4
    for f in frames:
        assert abs(_shown_delay(subject, f.t, f.truth_world_mm, 0.0005) - lat) <= 0.011
        assert f.detected is None        # latency only: the detector's answer is the frame's truth
        lm = truth_landmarks(f)
        assert np.array_equal(lm.world_mm, f.truth_world_mm) and lm.handedness == "Right"


def test_ideal_camera_is_the_old_exact_camera():
    subject = SyntheticSubject(seed=0, t_origin=0.0)
    cam = SyntheticCamera(subject, size=(64, 48))
    assert not cam.effects.detector_effects and subject.camera_latency_s == 0.0
    for t in (1.0, 7.3, 33.3):
        _, world, img_lm = cam.capture(t)
        assert np.array_equal(world, subject.pose_world_mm([t])[0])
        assert np.array_equal(img_lm, subject.image_landmarks([t], 64, 48)[0])
    frames = []
    cam.start(frames.append)
    time.sleep(0.15)
    cam.stop()
    assert frames and all(f.detected is None for f in frames)
    lm = truth_landmarks(frames[0])
    assert lm.score == 1.0 and lm.handedness == "Right"
    assert np.array_equal(lm.world_mm, subject.pose_world_mm([frames[0].t])[0])


def _live_detections(realism: dict, n: int, seed: int = 0):
    """n frames observed one at a time, as the live camera does: (CameraObservation rows) stacked."""
    subject = SyntheticSubject(seed=seed, t_origin=0.0, realism=realism)
    eff = CameraEffects(subject, np.random.default_rng(5))
    obs = [eff.observe([i / 30.0], 64, 48) for i in range(n)]
    return subject, {k: np.concatenate([getattr(o, k) for o in obs]) for k in obs[0]._fields}


def test_landmark_jitter_has_mediapipes_measured_structure():
    """Per frame: one shift of landmarks 1-20 against the wrist plus a draw per landmark, std per axis
    as measured (docs/landmark_jitter.md), scaled by the switch, fresh every frame."""
    for k in (1.0, 1.5):
        subject, o = _live_detections({"landmark_jitter": k}, 3000)
        d = o["det_world_mm"] - o["world_mm"]
        assert np.all(d[:, 0] == 0)                              # the wrist stays the origin
        fingers = d[:, 1:]                                       # (n, 20, 3)
        common = fingers.mean(1)
        own = fingers - common[:, None]
        c, m = k * MEDIAPIPE_JITTER_COMMON_MM, k * MEDIAPIPE_JITTER_LANDMARK_MM
        np.testing.assert_allclose(fingers.reshape(-1, 3).std(0), np.hypot(c, m), rtol=0.05)
        np.testing.assert_allclose(common.std(0), np.sqrt(c ** 2 + m ** 2 / 20), rtol=0.06)
        np.testing.assert_allclose(own.reshape(-1, 3).std(0), m * np.sqrt(19 / 20), rtol=0.05)
        assert abs(np.corrcoef(common[:-1, 2], common[1:, 2])[0, 1]) < 0.08   # uncorrelated frame to frame
    assert REALISTIC["landmark_jitter"] == 1.0 and REALISTIC["landmark_noise_mm"] == 0.0


def test_landmark_noise_std_dropout_runs_and_wrong_hand_fraction():
    subject, o = _live_detections({"landmark_noise_mm": 3.0, "dropouts": 0.2, "wrong_hand": 0.1}, 1500)
    d = o["det_world_mm"] - o["world_mm"]
    ok = ~o["wrong"]
    assert np.all(d[:, 0] == 0)                                  # the wrist stays the origin
    assert abs(d[ok][:, 1:].std() - 3.0) < 0.15, d[ok][:, 1:].std()
    assert abs(d[ok][:, 1:].mean()) < 0.1
    # Dropouts: the fraction asked for (1 - (1 - p/5)^5 ~ p), in runs of at least 5 frames, also
    # across calls of one frame each (the live camera's).
    miss = ~o["hand"]
    assert abs(miss.mean() - 0.2) < 0.05, miss.mean()
    edges = np.flatnonzero(np.diff(np.r_[0, miss.astype(int), 0]))
    runs = edges[1::2] - edges[::2]
    inner = runs[(edges[::2] > 0) & (edges[1::2] < len(miss))]
    assert len(inner) > 20 and inner.min() >= 5, runs
    # Wrong hand: that fraction of frames.
    assert abs(o["wrong"].mean() - 0.1) < 0.03, o["wrong"].mean()


def test_wrong_hand_frames_are_mirrored_and_the_others_exact():
    _, o = _live_detections({"wrong_hand": 0.2}, 300)
    w = o["wrong"]
    assert 20 < w.sum() < 100 and o["hand"].all()
    np.testing.assert_array_equal(o["det_world_mm"][w], o["world_mm"][w] * np.array([-1, 1, 1], np.float32))
    np.testing.assert_allclose(o["det_image"][w][..., 0], 1.0 - o["image"][w][..., 0], atol=1e-6)
    np.testing.assert_array_equal(o["det_image"][w][..., 1:], o["image"][w][..., 1:])
    np.testing.assert_array_equal(o["det_world_mm"][~w], o["world_mm"][~w])
    np.testing.assert_array_equal(o["shown_t"], np.arange(300) / 30.0)   # no latency asked


def test_live_camera_frames_carry_the_detector_answer():
    # The realistic preset through the camera thread: dropouts, noise and wrong-hand frames reach
    # the landmarks the truth/auto landmark mode hands on; the frame's truth stays exact.
    subject = SyntheticSubject(seed=0, realism={"preset": "realistic", "dropouts": 0.5, "wrong_hand": 0.3})
    frames = []
    cam = SyntheticCamera(subject, fps=60, size=(64, 48))
    cam.start(frames.append)
    time.sleep(1.2)
    cam.stop()
    lms = [truth_landmarks(f) for f in frames]
    assert len(frames) > 20 and all(isinstance(lm, Landmarks) for lm in lms)
    assert all(lm.t == f.t and lm.frame_index == f.index for lm, f in zip(lms, frames))
    hand = np.array([lm.has_hand for lm in lms])
    assert 0 < hand.sum() < len(hand)
    left = [lm for lm in lms if lm.handedness == "Left"]
    assert left
    for f, lm in zip(frames, lms):
        if lm.has_hand and lm.handedness == "Right":
            assert 0 < np.abs(lm.world_mm - f.truth_world_mm).max() < 30   # a few mm of jitter


def _old_offline_landmarks(duration_s, seed, realism, session, frame_rate=30.0, w=320, h=240, hand_dropout=0.0):
    """make_synthetic_session's landmark code before CameraEffects (the oracle that its sessions,
    which the bench quality figures are tuned on, are unchanged)."""
    subject = SyntheticSubject(seed=seed, t_origin=T0_HOST - 137.0 * session, realism=realism, session=session)
    real = subject.realism
    rng = np.random.default_rng([seed, 0xF4A3] + ([int(session), 1] if session else []))
    n_frames = int(np.floor(duration_s * frame_rate)) + 1
    worlds, hands = [], []
    for f0 in range(0, n_frames, int(2.0 * frame_rate)):
        fi = np.arange(f0, min(f0 + int(2.0 * frame_rate), n_frames))
        tf = T0_HOST + fi / frame_rate
        shown = tf
        if real["camera_latency"]:
            shown = tf - subject.camera_latency_s - rng.uniform(-0.01, 0.01, len(tf))
        world = subject.pose_world_mm(shown)
        if real["landmark_noise_mm"]:
            world = world + rng.normal(0.0, float(real["landmark_noise_mm"]), world.shape).astype(np.float32)
            world[:, 0] = 0.0
        subject.image_landmarks(shown, w, h, world=world)
        drop = rng.random(len(fi)) < hand_dropout
        if real["dropouts"]:
            drop |= np.convolve(rng.random(len(fi)) < real["dropouts"] / 5, np.ones(5))[:len(fi)] > 0
        wrong = (rng.random(len(fi)) < float(real["wrong_hand"])) if real["wrong_hand"] else np.zeros(len(fi), bool)
        if wrong.any():
            world[wrong, :, 0] *= -1
        world[drop] = np.nan
        worlds.append(world)
        hands.append(np.where(drop, "", np.where(wrong, "Left", "Right")))
    return np.concatenate(worlds), np.concatenate(hands)


@pytest.mark.parametrize("realism,session,hand_dropout", [(OLD_PRESET, 0, 0.0), (OLD_PRESET, 2, 0.1),
                                                          (None, 0, 0.2)])
def test_make_synthetic_session_landmarks_are_unchanged(tmp_path, realism, session, hand_dropout):
    p = make_synthetic_session(tmp_path / "s.h5", duration_s=12, seed=4, realism=realism, session=session,
                               hand_dropout=hand_dropout)
    world, hand = _old_offline_landmarks(12, 4, realism, session, hand_dropout=hand_dropout)
    with SessionReader(p) as r:
        got = np.asarray(r.landmarks_world[:])
        handed = r.handedness
    np.testing.assert_array_equal(got, world)
    assert [str(x) for x in handed] == list(hand)


def test_from_specs_realism_reaches_emg_and_camera():
    from recorder.capture.engine import Capture

    cap = Capture.from_specs("synthetic:500x4", "synthetic", "truth", seed=2, realism="realistic")
    try:
        assert cap.subject.realism == REALISTIC
        assert cap.camera.subject is cap.subject and cap.camera.subject.camera_latency_s > 0
        assert cap.emg.subject.realism == REALISTIC and cap.emg.subject.t_origin == cap.subject.t_origin
        assert cap.camera.effects.detector_effects
    finally:
        cap.stop()
    cap = Capture.from_specs("synthetic:500x8", "synthetic", "truth", seed=2)   # the engine's default: ideal
    try:
        assert not any(cap.subject.realism.values()) and cap.camera.subject.camera_latency_s == 0.0
    finally:
        cap.stop()


@pytest.mark.parametrize("argv,expected", [(["record"], "realistic"), (["record", "--realism", "none"], "none"),
                                           (["lsl", "publish"], "realistic"),
                                           (["lsl", "publish", "--realism", "none"], "none")])
def test_cli_realism_flag_reaches_the_capture(monkeypatch, tmp_path, argv, expected):
    from recorder.capture.engine import Capture
    from recorder.cli.emgrec import main

    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        raise KeyboardInterrupt   # stop before any device opens

    monkeypatch.setattr(Capture, "from_specs", staticmethod(fake))
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        extra = ["--out", str(tmp_path / "x.h5")] if argv[0] == "record" else []
        assert main(argv + extra) == 130
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    assert seen["realism"] == expected


@pytest.mark.parametrize("argv,expected", [([], None), (["--realism", "none"], "none"),
                                           (["--realism", "realistic"], "realistic")])
def test_gui_command_passes_realism_to_the_app(monkeypatch, argv, expected):
    import subprocess

    from recorder.cli.emgrec import main

    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    assert main(["gui", "--no-connect"] + argv) == 0
    cmd = calls[0]
    assert (cmd[cmd.index("--realism") + 1] if "--realism" in cmd else None) == expected
