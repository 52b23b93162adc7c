"""The camera view draws the detected hand into its cached frame: it shows with the frame, goes
with the next frame that has none, and stays under a model's hand repainted in its box alone."""

import numpy as np
from PySide6 import QtCore, QtGui

from app.widgets.camera_view import CameraView
from app.widgets.skeleton import FINGER_COLORS
from recorder.core.types import Frame, Landmarks


def _count(view, color: str) -> int:
    img = view.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    a = np.frombuffer(img.constBits(), np.uint32).reshape(img.height(), img.bytesPerLine() // 4)[:, : img.width()]
    return int(((a & 0xFFFFFF) == (QtGui.QColor(color).rgb() & 0xFFFFFF)).sum())


def test_detected_hand_is_drawn_with_its_frame_and_under_overlays(qtbot):
    view = CameraView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    with qtbot.waitExposed(view):
        view.show()
    img = np.full((480, 640, 3), 40, np.uint8)
    pts = np.zeros((21, 3), np.float32)
    pts[:, 0], pts[:, 1] = np.linspace(0.3, 0.6, 21), np.linspace(0.3, 0.7, 21)
    lm = Landmarks(pts, np.ones((21, 3), np.float32), 0.9, "Right", 0.0, 0)
    index = FINGER_COLORS["index"]
    view.set_frame(Frame(img, 0.0, 0), lm)
    assert view.has_hand and _count(view, index) > 50
    # A model's hand far from the detected one, repainted in its own box: both are on screen, and
    # the screen equals a full render.
    far = pts + (0.3, -0.25, 0.0)
    view.set_overlay([(far, "#ff006e")], immediate=True, legend=[("model: m", "#ff006e")])
    view.set_overlay([(far + 0.02, "#ff006e")], immediate=True, legend=[("model: m", "#ff006e")])
    shot = view.screen().grabWindow(view.winId()).toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    assert shot == view.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    assert _count(view, index) > 50 and _count(view, "#ff006e") > 50
    view.set_frame(Frame(img, 0.1, 1), None)
    assert not view.has_hand and _count(view, index) == 0
    view.resize(500, 400)   # a new size scales the frame again
    qtbot.wait(20)
    view.set_frame(Frame(img, 0.2, 2), lm)
    assert _count(view, index) > 30 and view._scaled.size() == QtCore.QSize(
        round(view.image_rect().width() * view.devicePixelRatioF()),
        round(view.image_rect().height() * view.devicePixelRatioF()))
