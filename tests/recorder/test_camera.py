"""Camera sources: synthetic render with truth, video files, image folders, clear errors."""

import threading

import cv2
import numpy as np
import pytest

from recorder.capture.camera import (CameraError, ImageFolderSource, SyntheticCamera, VideoFileSource, WebcamSource,
                             open_camera)
from recorder.core.clock import now
from recorder.sources.synthetic import SyntheticSubject
from recorder.core.types import Frame


class Collector:
    """A sink that keeps frames and signals when it has ``n``."""

    def __init__(self, n: int):
        self.n, self.frames, self.done = n, [], threading.Event()

    def __call__(self, frame: Frame) -> None:
        self.frames.append(frame)
        if len(self.frames) >= self.n:
            self.done.set()


@pytest.fixture(scope="module")
def subject():
    return SyntheticSubject(seed=2)


def _write_video(path, n=10, fps=20.0, size=(160, 120)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert w.isOpened()
    for i in range(n):
        img = np.full((size[1], size[0], 3), 20 * i, np.uint8)
        w.write(img)
    w.release()
    return path


def test_synthetic_camera_frames_carry_truth(subject):
    cam = SyntheticCamera(subject, fps=30)
    sink = Collector(12)
    t0 = now()
    cam.start(sink)
    try:
        assert sink.done.wait(5.0)
        assert cam.status()["state"] == "streaming"
    finally:
        cam.stop()
    st = cam.status()
    assert st["state"] == "stopped" and st["frames"] >= 12 and st["last_error"] == ""
    assert 20 < st["measured_fps"] < 40
    frames = sink.frames
    assert [f.index for f in frames] == list(range(len(frames)))
    t = np.array([f.t for f in frames])
    assert t[0] >= t0 and np.all(np.diff(t) > 0)
    assert abs(np.median(np.diff(t)) - 1 / 30) < 0.01
    f = frames[-1]
    assert f.image.shape == (480, 640, 3) and f.image.dtype == np.uint8
    assert f.truth_world_mm.shape == (21, 3) and f.truth_image.shape == (21, 3)
    np.testing.assert_allclose(f.truth_world_mm, subject.pose_world_mm([f.t])[0], atol=1e-4)
    np.testing.assert_allclose(f.truth_image, subject.image_landmarks([f.t], 640, 480)[0], atol=1e-6)
    # The hand is drawn where the truth says: skin at the palm centre, background in the corner.
    c = np.round(f.truth_image[[0, 5, 17], :2].mean(axis=0) * (640, 480)).astype(int)
    b, g, r = f.image[c[1], c[0]].astype(int)
    assert r > g > b and r - b > 50  # skin tone
    corner = f.image[2, 2].astype(int)
    assert abs(corner[2] - corner[0]) < 20  # plain grey background


def test_synthetic_camera_render_is_deterministic(subject):
    cam = SyntheticCamera(subject, size=(320, 240))
    a, wa, ia = cam.capture(subject.t_origin + 3.0)
    b, wb, ib = cam.capture(subject.t_origin + 3.0)
    assert a.shape == (240, 320, 3)
    np.testing.assert_array_equal(a, b)
    c, _, _ = cam.capture(subject.t_origin + 40.0)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 0.5  # the hand moved


def test_missing_webcam_names_the_index():
    cam = WebcamSource(57)
    with pytest.raises(CameraError, match="57"):
        cam.start(lambda f: None)
    assert cam.status()["state"] == "error" and "57" in cam.status()["last_error"]
    assert not cam.running


def test_bad_video_files_name_the_file(tmp_path):
    with pytest.raises(CameraError, match="nothere.mp4"):
        VideoFileSource(tmp_path / "nothere.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(CameraError, match="junk.mp4"):
        VideoFileSource(junk)


def test_video_file_fast_and_end_of_file(tmp_path):
    path = _write_video(tmp_path / "v.avi", n=10, fps=20.0)
    cam = VideoFileSource(path, realtime=False)
    assert cam.fps == pytest.approx(20.0) and cam.size == (160, 120)
    sink = Collector(10)
    cam.start(sink)
    assert cam.wait(5.0)  # ends by itself at the end of the file
    assert cam.status()["state"] == "stopped" and len(sink.frames) == 10
    t = np.array([f.t for f in sink.frames])
    np.testing.assert_allclose(np.diff(t), 1 / 20, atol=1e-9)  # the file's own timeline
    means = [f.image.mean() for f in sink.frames]
    assert means == sorted(means) and means[-1] > means[0] + 100  # frames in order
    assert cam.describe()["path"] == str(path)


def test_video_file_realtime_and_loop(tmp_path):
    path = _write_video(tmp_path / "v.avi", n=6, fps=30.0)
    cam = VideoFileSource(path, realtime=True)
    sink = Collector(6)
    t0 = now()
    cam.start(sink)
    assert cam.wait(5.0)
    elapsed = now() - t0
    assert len(sink.frames) == 6 and 5 / 30 - 0.01 < elapsed < 1.0  # paced at the file's rate
    looping = VideoFileSource(path, realtime=False, loop=True)
    sink = Collector(15)
    looping.start(sink)
    try:
        assert sink.done.wait(5.0)
    finally:
        looping.stop()
    assert [f.index for f in sink.frames[:15]] == list(range(15))
    assert sink.frames[6].image.mean() == pytest.approx(sink.frames[0].image.mean(), abs=2)


def test_image_folder(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.full((60, 80, 3), 10, np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.full((30, 40, 3), 200, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    cam = ImageFolderSource(tmp_path, fps=100, hold=2, loop=False)
    assert cam.size == (80, 60)
    sink = Collector(4)
    cam.start(sink)
    assert cam.wait(5.0) and cam.status()["state"] == "stopped"
    assert [int(f.image.mean()) for f in sink.frames] == [10, 10, 200, 200]
    assert all(f.image.shape == (60, 80, 3) for f in sink.frames)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CameraError, match="empty"):
        ImageFolderSource(empty)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(CameraError, match="bad.png"):
        ImageFolderSource([tmp_path / "bad.png"])


def test_open_camera_specs(tmp_path, subject):
    assert open_camera("none") is None
    cam = open_camera("synthetic", subject=subject, fps=15)
    assert isinstance(cam, SyntheticCamera) and cam.subject is subject and cam.fps == 15
    assert isinstance(open_camera("synthetic"), SyntheticCamera)
    web = open_camera("3")
    assert isinstance(web, WebcamSource) and web.index == 3 and web.describe()["index"] == 3
    assert isinstance(open_camera(_write_video(tmp_path / "v.avi")), VideoFileSource)
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((10, 10, 3), np.uint8))
    assert isinstance(open_camera(str(tmp_path)), ImageFolderSource)
    assert isinstance(open_camera(str(tmp_path / "a.png")), ImageFolderSource)
    with pytest.raises(CameraError, match="nowhere"):
        open_camera(str(tmp_path / "nowhere"))


def test_sink_error_reaches_status(subject):
    def bad_sink(frame):
        raise KeyError("consumer bug")

    cam = SyntheticCamera(subject, fps=50, size=(64, 48))
    cam.start(bad_sink)
    assert cam.wait(5.0)
    st = cam.status()
    assert st["state"] == "error" and "consumer bug" in st["last_error"]
