"""MediaPipe landmarks on real HaGRID photos and a video made from them; the worker's queue policy.

Numbers measured with MediaPipe 0.10.21 (static_image_mode, model_complexity=1), mean fingertip
distance from the wrist in world mm: v2_palm 156, v1_palm 163; v2_fist 89, v1_fist 74.
"""

import threading

import numpy as np
import pytest

from recorder.capture.camera import SyntheticCamera, VideoFileSource
from recorder.core.clock import now
from recorder.capture.landmarks import HandDetector, LandmarkWorker, run_on_frames
from recorder.sources.synthetic import SyntheticSubject
from recorder.core.types import Frame, Landmarks

from .videos import make_gesture_video

TIPS = [4, 8, 12, 16, 20]
TWO_HANDS = {"v2_heart", "v2_heart2", "v2_take_photo", "v2_thumb_index2", "v2_timeout", "v2_xsign"}


def tip_spread_mm(lm: Landmarks) -> float:
    """Mean distance (mm) of the five fingertips from the wrist."""
    return float(np.linalg.norm(lm.world_mm[TIPS] - lm.world_mm[0], axis=1).mean())


@pytest.fixture(scope="module")
def detector():
    det = HandDetector(static_image_mode=True, model_complexity=1)
    yield det
    det.close()


@pytest.fixture(scope="module")
def photo_landmarks():
    """Cache: photo name -> Landmarks, so each photo goes through MediaPipe once per module."""
    return {}


@pytest.fixture
def hagrid(shared_data, detector, photo_landmarks):
    import cv2

    folder = shared_data / "hands" / "hagrid"

    def get(name: str) -> Landmarks:
        if name not in photo_landmarks:
            img = cv2.imread(str(folder / f"{name}.png"))
            assert img is not None, name
            photo_landmarks[name] = detector.process(img)
        return photo_landmarks[name]

    get.folder = folder
    return get


def test_hand_found_in_every_single_hand_photo(hagrid):
    names = sorted(p.stem for p in hagrid.folder.glob("*.png") if p.stem not in TWO_HANDS)
    assert len(names) == 45
    missing = [n for n in names if not hagrid(n).has_hand]
    assert not missing, missing
    for n in names:
        lm = hagrid(n)
        assert lm.image.shape == (21, 3) and lm.world_mm.shape == (21, 3)
        assert lm.image.dtype == np.float32 and np.isfinite(lm.world_mm).all()
        assert 0.5 < lm.score <= 1.0 and lm.handedness in ("Left", "Right")
        assert lm.image[:, :2].min() > -0.1 and lm.image[:, :2].max() < 1.1
        # World landmarks are metric: the palm (wrist to middle knuckle) is 50-130 mm.
        assert 50 < np.linalg.norm(lm.world_mm[9] - lm.world_mm[0]) < 130, n


def test_open_palm_vs_fist(hagrid):
    for v in ("v1", "v2"):
        palm, fist = tip_spread_mm(hagrid(f"{v}_palm")), tip_spread_mm(hagrid(f"{v}_fist"))
        assert palm > 130 and fist < 100 and palm - fist > 50, (v, palm, fist)


def test_thumb_up_has_thumb_tip_highest(hagrid):
    for name in ("v1_like", "v2_like"):
        lm = hagrid(name)
        assert TIPS[int(np.argmin(lm.image[TIPS, 1]))] == 4, name
    # and thumb down ("dislike") has it lowest
    lm = hagrid("v2_dislike")
    assert TIPS[int(np.argmax(lm.image[TIPS, 1]))] == 4


def test_several_hands_keeps_the_best(shared_data):
    import cv2

    img = cv2.imread(str(shared_data / "hands" / "hagrid" / "v2_heart.png"))
    with HandDetector(static_image_mode=True, max_num_hands=2) as det:
        lm = det.process(img)
        raw = det._hands.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    scores = [h.classification[0].score for h in raw.multi_handedness]
    assert len(scores) == 2 and lm.has_hand
    assert lm.score == pytest.approx(max(scores), abs=1e-6)


def test_no_hand_and_bad_input(detector):
    lm = detector.process(np.full((240, 320, 3), 127, np.uint8), t=5.0, frame_index=7)
    assert not lm.has_hand and lm.score == 0.0 and lm.handedness == ""
    assert np.isnan(lm.world_mm).all() and np.isnan(lm.image).all()
    assert lm.t == 5.0 and lm.frame_index == 7
    with pytest.raises(ValueError, match="BGR"):
        detector.process(np.zeros((10, 10), np.uint8))


def test_video_through_camera_and_worker(shared_data, tmp_path):
    """palm -> fist -> palm (8 frames each at 15 fps) through VideoFileSource + LandmarkWorker."""
    folder = shared_data / "hands" / "hagrid"
    video = make_gesture_video(tmp_path / "palm_fist_palm.avi",
                               [folder / "v2_palm.png", folder / "v2_fist.png", folder / "v2_palm.png"],
                               hold=8, fps=15.0)
    cam = VideoFileSource(video, realtime=True)
    worker = LandmarkWorker(mode="mediapipe", queue_size=8)
    results: list[tuple[Frame, Landmarks]] = []
    worker.start(lambda f, lm: results.append((f, lm)))
    cam.start(worker.submit)
    try:
        assert cam.wait(10.0) and cam.status()["state"] == "stopped"
    finally:
        cam.stop()
        worker.stop(drain=True)
    st = worker.stats()
    assert st["processed"] + st["dropped"] == 24 and st["processed"] >= 20, st
    assert st["latency_p50_s"] > 0 and st["latency_p95_s"] >= st["latency_p50_s"] and st["fps"] > 0
    assert [f.index for f, _ in results] == sorted(f.index for f, _ in results)
    found = [(f.index, lm) for f, lm in results if lm.has_hand]
    assert len(found) >= 0.8 * len(results)
    palm = [tip_spread_mm(lm) for i, lm in found if i < 8 or i >= 16]
    fist = [tip_spread_mm(lm) for i, lm in found if 8 <= i < 16]
    assert palm and fist and np.median(palm) > np.median(fist) + 40, (palm, fist)
    assert all(lm.t == f.t and lm.frame_index == f.index for f, lm in results)


def test_worker_truth_mode_and_drop_oldest():
    subject = SyntheticSubject(seed=1)
    cam = SyntheticCamera(subject, size=(64, 48))
    frames = []
    for i in range(6):
        t = now()
        img, world, image_lm = cam.capture(t)
        frames.append(Frame(img, t, i, world, image_lm))
    entered, release = threading.Event(), threading.Event()
    got: list[Landmarks] = []

    def slow_sink(frame, lm):
        got.append(lm)
        entered.set()
        assert release.wait(5.0)

    worker = LandmarkWorker(mode="auto", queue_size=2)  # auto + truth frames: MediaPipe never loads
    worker.start(slow_sink)
    assert worker.submit(frames[0])
    assert entered.wait(5.0)  # the worker holds frame 0 in the sink; the queue is empty
    accepted = [worker.submit(f) for f in frames[1:]]
    assert accepted == [True, True, False, False, False]
    assert worker.stats()["dropped"] == 3 and worker.stats()["queue"] == 2
    release.set()
    worker.stop(drain=True)
    assert [lm.frame_index for lm in got] == [0, 4, 5]  # the oldest were dropped
    for lm in got:
        f = frames[lm.frame_index]
        np.testing.assert_array_equal(lm.world_mm, f.truth_world_mm)
        assert lm.score == 1.0 and lm.has_hand and lm.latency_s >= 0
    assert worker._detector is None
    # truth mode on a frame without truth gives "no hand", not an error.
    w2, out = LandmarkWorker(mode="truth"), []
    w2.start(lambda f, lm: out.append(lm))
    w2.submit(Frame(np.zeros((8, 8, 3), np.uint8), 1.0, 0))
    w2.stop(drain=True)
    assert len(out) == 1 and not out[0].has_hand
    with pytest.raises(ValueError, match="mode"):
        LandmarkWorker(mode="magic")


def test_mediapipe_finds_the_synthetic_hand(detector):
    """The rendered synthetic hand looks enough like a hand for MediaPipe (2D error in pixels)."""
    subject = SyntheticSubject(seed=0, t_origin=0.0)
    cam = SyntheticCamera(subject)
    errors = []
    for name in ("palm", "fist", "peace"):
        s, e, _ = next(seg for seg in subject.schedule if seg[2] == name)
        img, _, truth = cam.capture((s + e) / 2)
        lm = detector.process(img)
        assert lm.has_hand, name
        errors.append(np.linalg.norm((lm.image[:, :2] - truth[:, :2]) * (640, 480), axis=1).mean())
    assert np.mean(errors) < 25, errors  # measured ~9 px median over a whole loop


def test_run_on_frames_progress_and_cancel(shared_data):
    import cv2

    folder = shared_data / "hands" / "hagrid"
    imgs = [cv2.imread(str(folder / f"v2_{n}.png")) for n in ("palm", "fist", "one", "peace")]
    seen = []
    out = run_on_frames([(0.1 * i, im) for i, im in enumerate(imgs)], progress=lambda p: seen.append((p.done, p.total)),
                        static_image_mode=True)
    assert len(out) == 4 and all(lm.has_hand for lm in out)
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [lm.t for lm in out] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    stop = threading.Event()
    part = run_on_frames(iter(imgs), progress=lambda p: stop.set() if p.done == 2 else None, cancel=stop)
    assert len(part) == 2 and [lm.frame_index for lm in part] == [0, 1]
