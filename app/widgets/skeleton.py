"""Drawing a 21-landmark hand (MediaPipe order) with QPainter, and BGR arrays as QImages.

Reusable for any overlay: the detected hand on the camera view, a model's predicted hand later
(draw it with another colour), the review view's frames.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui

from recorder.core.types import FINGERS, HAND_CONNECTIONS

#: Per-finger bone colours (thumb .. pinky) and the palm's.
FINGER_COLORS = {"thumb": "#ffb703", "index": "#4cc9f0", "middle": "#80ed99", "ring": "#c77dff",
                 "pinky": "#f72585"}
PALM_COLOR = "#e0e0e0"
_FINGER_OF = {i: f for f, idx in FINGERS.items() for i in idx}


def bgr_to_qimage(bgr: np.ndarray) -> QtGui.QImage:
    """(H, W, 3) uint8 BGR -> QImage (owns a copy of the pixels, safe after bgr changes)."""
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 BGR, got {bgr.shape} {bgr.dtype}")
    h, w, _ = bgr.shape
    buf = np.ascontiguousarray(bgr)
    img = QtGui.QImage(buf.data, w, h, buf.strides[0], QtGui.QImage.Format.Format_BGR888)
    # As RGB32 (a copy): smooth scaling and blits take Qt's fast paths; scaling the 24-bit BGR image
    # itself took 3x as long, on the GUI thread, for every camera frame.
    return img.convertToFormat(QtGui.QImage.Format.Format_RGB32)


def to_pixels(image_landmarks: np.ndarray, rect: QtCore.QRectF) -> np.ndarray | None:
    """Normalised landmarks (21, 2+) (x, y in [0, 1] of the image) -> (21, 2) points inside ``rect``
    (where the image is drawn). None when there is no hand (NaN)."""
    p = np.asarray(image_landmarks, dtype=np.float64)[:, :2]
    if not np.all(np.isfinite(p)):
        return None
    return np.column_stack([rect.x() + p[:, 0] * rect.width(), rect.y() + p[:, 1] * rect.height()])


def _bone_color(a: int, b: int) -> str:
    same = _FINGER_OF.get(a) == _FINGER_OF.get(b) or (a, b) == (0, 1)
    finger = _FINGER_OF.get(b) if same else None  # palm edges get the palm colour
    return FINGER_COLORS[finger] if finger else PALM_COLOR


# Per-finger colours of each bone and joint, and the bones as runs of one colour in drawing order
# (one pen per run; a pen made per bone was most of an overlay repaint).
_BONE_COLORS = [_bone_color(a, b) for a, b in HAND_CONNECTIONS]
_JOINT_COLORS = [FINGER_COLORS[_FINGER_OF[i]] if i in _FINGER_OF else PALM_COLOR for i in range(21)]


def _runs(colors: list[str]) -> list[tuple[str, list[int]]]:
    out: list[tuple[str, list[int]]] = []
    for k, c in enumerate(colors):
        if out and out[-1][0] == c:
            out[-1][1].append(k)
        else:
            out.append((c, [k]))
    return out


_BONE_RUNS = _runs(_BONE_COLORS)


def draw_hand(painter: QtGui.QPainter, pts: np.ndarray, color: str | None = None,
              width: float = 3.0, joint_radius: float = 3.5) -> None:
    """Draw bones (types.HAND_CONNECTIONS) and joints of a hand given as (21, 2) pixel points.

    color: one colour for the whole hand (e.g. a model's prediction); None colours each finger.
    """
    if pts is None or len(pts) != 21:
        return
    painter.save()
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
    p = [QtCore.QPointF(float(x), float(y)) for x, y in pts]
    runs = [(color, list(range(len(HAND_CONNECTIONS))))] if color else _BONE_RUNS
    for c, bones in runs:
        pen = QtGui.QPen(QtGui.QColor(c), width)
        pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        # A line per call: one drawLines call strokes all its lines as one self-overlapping path,
        # which with a wide antialiased pen took twice as long.
        for k in bones:
            painter.drawLine(p[HAND_CONNECTIONS[k][0]], p[HAND_CONNECTIONS[k][1]])
    painter.setPen(QtGui.QPen(QtGui.QColor("#101418"), 1.0))
    brush = None
    for i, q in enumerate(p):
        c = color or _JOINT_COLORS[i]
        if c != brush:
            painter.setBrush(QtGui.QColor(c))
            brush = c
        painter.drawEllipse(q, joint_radius, joint_radius)
    painter.restore()


def render_hand_image(bgr: np.ndarray, image_landmarks: np.ndarray | None,
                      color: str | None = None) -> QtGui.QImage:
    """A copy of the frame with the hand drawn on it (for screenshots and exports)."""
    img = bgr_to_qimage(bgr)
    if image_landmarks is not None:
        pts = to_pixels(image_landmarks, QtCore.QRectF(0, 0, img.width(), img.height()))
        if pts is not None:
            p = QtGui.QPainter(img)
            draw_hand(p, pts, color, width=max(2.0, img.width() / 200))
            p.end()
    return img
