"""The capture engine end to end on the synthetic subject: Myo emulator -> real driver -> Capture ->
session file, with the synthetic camera and landmarks running."""
import numpy as np
import pytest

from recorder.capture.engine import Capture, CaptureListenerBase
from recorder.core.clock import now
from recorder.session.format import SessionReader


def _wait_for(cond, timeout=15.0):
    import time
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("condition not reached")
        time.sleep(0.02)


@pytest.fixture
def capture():
    cap = Capture.from_specs("synthetic", "synthetic", "auto", seed=1)
    cap.start()
    _wait_for(lambda: cap.emg_buffer.total > 0)
    yield cap
    cap.stop()
    assert not cap.emg.running


def test_record_with_camera_labels_and_pause(capture, tmp_path):
    emu = capture.emg.emulator
    errors_ms = []

    truth = []

    class Check(CaptureListenerBase):
        def on_emg(self, chunk):
            tt = emu.truth_times(chunk.first_index, len(chunk))
            truth.append(tt)
            errors_ms.append((chunk.t - tt) * 1e3)

    check = Check()
    capture.add_listener(check)
    path = tmp_path / "s.h5"
    capture.start_recording(path, {"subject": "S01", "hand": "right", "notes": "test"})
    _wait_for(lambda: capture.elapsed_s > 2.0)
    capture.label_on("fist")
    _wait_for(lambda: capture.elapsed_s > 3.0)
    capture.label_off("fist")
    capture.add_marker("mid")
    capture.pause_recording()
    t_pause = now()
    _wait_for(lambda: now() - t_pause > 0.5)
    capture.resume_recording()
    _wait_for(lambda: capture.elapsed_s > 5.0)
    st = capture.status()
    assert st["recording"]["samples"] > 0
    out = capture.stop_recording()
    assert out == path and not capture.recording

    # Steady state: the clock's fit needs its first half second (one read's latency stamps the
    # very first samples, up to ~10 ms on a loaded host), as in test_myo's timestamp checks.
    capture.remove_listener(check)
    n = min(len(truth), len(errors_ms))  # the reader thread may be between the two appends
    tt = np.concatenate(truth[:n])
    err = np.abs(np.concatenate(errors_ms[:n]))[tt >= emu.truth_times(0, 1)[0] + 0.5]
    assert capture.emg.status().samples_lost == 0
    # A sanity bound (a wrong rate or clock is off by far more): the precise targets (p99 < 0.5 ms
    # quiet, < 1 ms under CPU hogs) are measured over 600 s in bench/acquisition.py and bench/faults.py;
    # 5 s of samples on a shared 2-core CI machine gave 1.22 ms once.
    assert np.percentile(err, 99) < 5.0, f"timestamp error p99 {np.percentile(err, 99):.3f} ms"

    with SessionReader(path) as r:
        s = r.summary()
        assert r.attrs["subject"] == "S01"
        t = r.emg_t
        # 5 s recorded plus a 0.5 s pause that is not in the data but is marked as a gap.
        assert 4.5 < r.duration_s < 7.0
        assert len(r.gaps) == 1 and r.gaps[0][1] - r.gaps[0][0] == pytest.approx(0.5, abs=0.15)
        dt = np.diff(t)
        big = dt > 0.1
        assert big.sum() == 1  # the pause; everything else is contiguous at 200 Hz
        assert np.median(dt) == pytest.approx(1 / 200, rel=1e-3)
        (start, end, name), = r.labels
        assert name == "fist" and end - start == pytest.approx(1.0, abs=0.2)
        assert [m[1] for m in r.markers] == ["mid"]
        assert r.n_frames > 50  # 30 frames/s asked; CI's loaded 2 cores once gave 15/s (bench/ measures rates)
        assert np.isfinite(r.landmarks_world[:, 0, 0]).mean() > 0.9
        # The synthetic camera's landmarks are the subject's exact pose at the frame time.
        i = r.n_frames // 2
        truth = capture.subject.pose_world_mm(np.array([r.video_t[i] + capture.t0]))[0]
        assert np.allclose(r.landmarks_world[i], truth, atol=1e-3)
        assert s["frames"] == r.n_frames


def test_labels_outside_a_recording_are_ignored(capture):
    capture.label_on("fist")
    capture.label_off("fist")
    assert capture.labels == []
    assert capture.stop_recording() is None


def test_emg_down_at_the_end_is_a_gap_up_to_the_stop(capture, tmp_path):
    """The armband is unplugged mid-recording and never comes back: the recording goes on with
    video only, and the time without EMG must be in /emg/gaps (no later sample will mark it)."""
    import time
    path = tmp_path / "down.h5"
    capture.start_recording(path, {"subject": "S01"})
    time.sleep(1.0)
    capture.emg.emulator.unplug()
    t_unplug = now()
    time.sleep(1.5)
    capture.stop_recording()
    with SessionReader(path) as r:
        gaps = r.gaps
        t_end = r.duration_s
    assert len(gaps) == 1
    start, end = gaps[0]
    assert end == pytest.approx(t_end, abs=0.3)
    assert end - start == pytest.approx(1.5, abs=0.3)


def test_landmark_model_loads_before_the_first_real_frame(tmp_path):
    """Default landmark mode ("auto") with a camera whose frames carry no truth: MediaPipe must be
    loaded when the capture starts, not at the first frame (that dropped the first 0.25-0.5 s)."""
    import time

    import cv2

    from recorder.capture.camera import ImageFolderSource
    from recorder.capture.landmarks import LandmarkWorker
    from recorder.sources.synthetic import SyntheticEmgSource, SyntheticSubject

    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((96, 96, 3), 128, np.uint8))
    subject = SyntheticSubject(seed=0)
    cap = Capture(SyntheticEmgSource(subject=subject, n_channels=8), ImageFolderSource(folder, fps=10.0),
                  LandmarkWorker(mode="auto"), subject=subject)
    cap.start()
    try:
        assert cap.landmarks._detector is not None  # loaded before the camera started
        _wait_for(lambda: cap.camera.status()["frames"] >= 15, timeout=20.0)
        time.sleep(0.3)
        st = cap.landmarks.stats()
    finally:
        cap.stop()
    assert st["processed"] >= 10
    assert st["dropped"] == 0
