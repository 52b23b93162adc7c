"""Live model preview: a model trained on a synthetic session runs on the live synthetic capture in a
worker thread, its hand is drawn over the camera (or on a blank canvas without one), and the error
against the detected hand and the EMG-arrival -> overlay latency are reported."""
import math

import numpy as np
import pytest

from app.widgets.camera_view import CameraView
from app.train.live_preview import LivePreview, place_on_image
from recorder.capture.engine import Capture
from recorder.sources.synthetic import SyntheticEmgSource, SyntheticSubject
from recorder.model.training import train


@pytest.fixture(scope="module")
def models(tmp_path_factory, synthetic_session):
    """A pose and a gesture model (dense, 2 epochs) trained on 20 s of the seed-0 synthetic subject,
    the same subject the live synthetic sources simulate."""
    d = tmp_path_factory.mktemp("live-models")
    s = synthetic_session
    out = {}
    for task in ("pose", "gesture"):
        cfg = {"task": task, "model": {"name": "dense"}, "train": {"epochs": 2, "batch_size": 64, "threads": 1}}
        out[task] = str(train(cfg, [s], d / task).out_dir)
    return out


def test_place_on_image_follows_the_projection():
    subj = SyntheticSubject(seed=0)
    t = subj.t_origin + np.array([2.0, 7.0, 13.0])
    world = subj.pose_world_mm(t)
    img = subj.image_landmarks(t, 640, 480, world=world)
    for k in range(len(t)):
        pose = world[k] - world[k][0]
        pts, s, wrist = place_on_image(pose, img[k], world[k], (640, 480))
        px, true_px = pts[:, :2] * (640, 480), img[k][:, :2] * (640, 480)
        size = np.sqrt(((true_px - true_px[0]) ** 2).sum(axis=1).mean())
        assert np.allclose(px[0], true_px[0], atol=1e-3)  # anchored at the detected wrist
        # Weak perspective vs the true pinhole projection: within a small fraction of the hand size.
        assert np.linalg.norm(px - true_px, axis=1).mean() < 0.1 * size
        assert 0.5 < s < 3.0  # px per mm at ~45 cm with a 608 px focal length: ~1.3
    # No detected hand: a typical-size hand low in the middle of the picture.
    pts, s, wrist = place_on_image(world[0] - world[0][0], None, None, (640, 480))
    assert np.allclose(pts[0, :2], (0.5, 0.82)) and np.isfinite(pts).all()


@pytest.fixture
def window(make_main_window):
    return make_main_window(size=(1500, 900))


def test_live_preview_over_the_camera(qtbot, window, models):
    w, cv = window, window.capture_view
    with qtbot.waitSignal(cv.capture_changed, timeout=30000):
        # The ideal subject, as the models were trained on (the app's default is the realistic one).
        cv.connect_sources("synthetic", "synthetic", "none")
    with qtbot.waitSignal(w.live.model_loaded, timeout=30000):
        w.choose_live_model(models["pose"])
    assert w.model_combo.currentData() == models["pose"]
    qtbot.waitUntil(lambda: w.live.overlays_drawn >= 30 and w.live.errors_mm.stats()["n"] >= 10, timeout=30000)
    st = w.live.latency_stats()
    assert st["errors"] == 0
    for key in ("prediction", "overlay", "overlay_set"):
        assert st[key]["n"] > 0 and 0 < st[key]["p50_ms"] <= st[key]["p95_ms"], (key, st[key])
    # Arrival -> prediction happens before arrival -> overlay painted.
    assert st["prediction"]["p50_ms"] <= st["overlay"]["p50_ms"]
    # ~30 Hz, triggered by arriving chunks; never above the cap. The floor is not asserted: on a
    # loaded machine fewer predictions are made (bench/ measures the rate and latency).
    assert 0 < st["rate_hz"] < 45
    # The model tracks the live hand (mean-pose baseline of this subject is ~25 mm; nonsense is > 40).
    assert st["error_mm"]["n"] > 0 and st["error_mm"]["mean_mm"] < 25.0, st["error_mm"]
    # The predicted hand is drawn in its own colour, anchored at the detected wrist.
    hands = cv.camera_view._overlays
    assert len(hands) == 1 and hands[0][1] == "#ff006e"
    pts = w.live.last_overlay
    assert pts.shape == (21, 3) and np.isfinite(pts).all()
    assert np.allclose(pts[0, :2], w.live._anchor[0][0, :2], atol=1e-4)
    qtbot.waitUntil(lambda: "error" in w.live.label.text() and "overlay" in w.live.label.text(), timeout=5000)
    # The two hands are named in a legend; the toolbar text is short, the details in its tooltip.
    names = [t for t, _ in cv.camera_view.legend]
    assert names[0] == "MediaPipe (camera)" and names[-1].startswith("model: ")
    assert len(w.live.label.text()) < 400 and "p95" in w.live.label.toolTip()
    # Model (none): the prediction thread stops and the overlay goes.
    w.model_combo.setCurrentIndex(0)
    assert w.live._loop is None and cv.camera_view._overlays == []


def test_no_camera_gesture_model_and_mismatch(qtbot, models, no_thread_leaks):
    view = CameraView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    lp = LivePreview(view)
    cap = Capture.from_specs("synthetic", "none", seed=0)
    try:
        cap.start()
        lp.set_capture(cap)
        with qtbot.waitSignal(lp.model_loaded, timeout=30000):
            lp.set_model(models["pose"])
        qtbot.waitUntil(lambda: lp.overlays_drawn >= 10, timeout=20000)
        # No camera: a blank canvas with the predicted hand alone; no error without a detected hand.
        assert view.frame_index == -1 and view._image is not None and len(view._overlays) == 1
        assert lp.error_mm is None and lp.latency_stats()["overlay"]["n"] > 0
        qtbot.waitUntil(lambda: "no hand to compare" in lp.label.text(), timeout=5000)

        # A gesture model: the class and its probability, no hand drawn.
        with qtbot.waitSignal(lp.model_loaded, timeout=30000):
            lp.set_model(models["gesture"])
        qtbot.waitUntil(lambda: lp.last_prediction is not None and lp.last_prediction.label is not None,
                        timeout=20000)
        pred = lp.last_prediction
        assert pred.label in lp.predictor.class_names and math.isclose(float(pred.probs.sum()), 1.0, rel_tol=1e-4)
        assert view._overlays == []
        qtbot.waitUntil(lambda: any(n in lp.label.text() for n in lp.predictor.class_names), timeout=5000)
    finally:
        lp.shutdown()
        cap.stop()

    # A stream the model does not fit (4 channels): a clear message, no prediction thread.
    cap4 = Capture(SyntheticEmgSource(subject=None, sample_rate_hz=200.0, n_channels=4, seed=0))
    lp4 = LivePreview(view)
    try:
        with qtbot.waitSignal(lp4.model_error, timeout=30000) as err:
            lp4.set_capture(cap4)
            lp4.set_model(models["pose"])
        assert "8 channels" in err.args[0] and lp4._loop is None
    finally:
        lp4.shutdown()
        cap4.stop()


def test_a_model_that_raises_once_does_not_stop_the_preview(qtbot, models, no_thread_leaks, monkeypatch):
    """The preview runs the engine's LiveRunner: a failing prediction is counted and shown in the
    status, and the hand keeps being drawn."""
    import app.train.live_preview as lpmod

    real = lpmod._load_predictor

    def flaky(path):
        p = real(path)
        orig, failed = p.predict, []

        def predict():
            out = orig()
            if out is not None and not failed:
                failed.append(1)
                raise RuntimeError("bad window")
            return out
        p.predict = predict
        return p
    monkeypatch.setattr(lpmod, "_load_predictor", flaky)
    view = CameraView()
    qtbot.addWidget(view)
    view.show()
    lp = LivePreview(view)
    cap = Capture.from_specs("synthetic", "none", seed=0)
    try:
        cap.start()
        lp.set_capture(cap)
        with qtbot.waitSignal(lp.model_loaded, timeout=30000):
            lp.set_model(models["pose"])
        qtbot.waitUntil(lambda: lp.overlays_drawn >= 5, timeout=20000)
        st = lp.latency_stats()
        assert st["errors"] == 1 and st["prediction"]["n"] > 0
        qtbot.waitUntil(lambda: "RuntimeError: bad window" in lp.label.text(), timeout=5000)
    finally:
        lp.shutdown()
        cap.stop()


def test_overlay_repaint_is_the_hands_box_and_leaves_no_trace(qtbot):
    """A new overlay repaints only the box around the old and new hand (over the cached scaled
    frame), and what is on screen then is the same as a full repaint: no stale hand left behind;
    after a resize the next one is a full repaint again."""
    from PySide6 import QtCore, QtGui

    from recorder.core.types import Frame

    class Spy(CameraView):
        def __init__(self):
            super().__init__()
            self.rects = []

        def paintEvent(self, ev):  # noqa: N802
            self.rects.append(QtCore.QRect(ev.rect()))
            super().paintEvent(ev)

    view = Spy()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    qtbot.waitExposed(view)
    img = (np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)
    view.set_frame(Frame(img, 0.0, 0))
    qtbot.wait(50)
    a = np.zeros((21, 3), np.float32)
    a[:, 0], a[:, 1] = np.linspace(0.2, 0.3, 21), np.linspace(0.3, 0.5, 21)
    b = a + (0.4, 0.1, 0.0)
    legend = [("model: m", "#ff006e")]

    def on_screen_is_full_render():
        shot = view.screen().grabWindow(view.winId()).toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
        return shot == view.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)

    view.set_overlay([(a, "#ff006e")], immediate=True, legend=legend)  # first one (new legend): full
    assert view.rects[-1] == view.rect()
    view.rects.clear()
    view.set_overlay([(b, "#ff006e")], immediate=True, legend=legend)
    assert len(view.rects) == 1
    box = view.rects[0]
    assert box.width() * box.height() < 0.5 * view.width() * view.height()
    assert on_screen_is_full_render()
    view.resize(700, 500)
    qtbot.wait(50)
    view.rects.clear()
    view.set_overlay([(a, "#ff006e")], immediate=True, legend=legend)
    assert view.rects == [view.rect()] and on_screen_is_full_render()
