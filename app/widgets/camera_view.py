"""Camera view: the latest frame, letterboxed, with the detected hand drawn on top and a status line."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from recorder.core.types import Frame, Landmarks

from app.widgets.skeleton import bgr_to_qimage, draw_hand, to_pixels


class CameraView(QtWidgets.QWidget):
    """Shows a frame (BGR) and its landmarks; ``set_message`` replaces the picture with a text
    (no camera, camera error). The skeleton is drawn in widget coordinates so it stays sharp."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding)
        self._image: QtGui.QImage | None = None
        self._scaled: QtGui.QPixmap | None = None  # _image scaled to image_rect() (device px), detected hand drawn in
        self._overlay_box: QtCore.QRect | None = None  # widget px the overlays were last drawn in
        self._landmarks: np.ndarray | None = None  # (21, 3) normalised, or None
        self._overlays: list[tuple[np.ndarray, str]] = []  # extra hands (e.g. model prediction)
        self._legend: list[tuple[str, str | None]] = []     # (text, colour; None = per-finger colours)
        self._message = "No camera"
        self._info = ""
        self.has_hand = False
        self.frame_index = -1
        self.painted_hook = None  # callable() run after a paint that drew overlays (latency probes)

    def set_frame(self, frame: Frame, landmarks: Landmarks | None = None, info: str = "") -> None:
        """Show ``frame``; draw ``landmarks`` if they belong to a recent frame and found a hand."""
        img = bgr_to_qimage(frame.image)
        if self._image is None or img.size() != self._image.size():
            self._overlay_box = None  # the image rect moves: the next overlay repaint is a full one
        self._image = img
        self._scaled = None
        self.frame_index = frame.index
        self.has_hand = landmarks is not None and landmarks.has_hand
        self._landmarks = landmarks.image if self.has_hand else None
        self._message = ""
        self._info = info
        if self.isVisible():
            self._scaled_frame(self.image_rect())  # here, not in the next overlay's repaint
        self.update()

    def set_overlay(self, hands: list[tuple[np.ndarray, str]], immediate: bool = False,
                    legend: list[tuple[str, str | None]] | None = None) -> None:
        """Extra hands to draw: (21, 3) normalised landmarks and a colour each. ``immediate`` paints
        now (repaint) instead of at the next update pass, for overlays whose latency is measured.
        ``legend``: (text, colour) rows naming the hands (None colour: the per-finger skeleton);
        None keeps the current legend; it is shown while there are overlays."""
        self._overlays = list(hands)
        legend_changed = legend is not None and list(legend) != self._legend
        if legend is not None:
            self._legend = list(legend)
        if immediate and self.isVisible():
            # Only the old and new overlay boxes (the cached frame is blitted under them), not the widget.
            old, new = self._overlay_box, self._overlays_rect()
            self._overlay_box = new
            if legend_changed or old is None or new is None:
                self.repaint()
            else:
                self.repaint(old.united(new))
        else:
            self._overlay_box = self._overlays_rect()
            self.update()

    def _overlays_rect(self) -> QtCore.QRect | None:
        """Widget px covering the overlay hands (lines, joints); None if none or no frame. The legend
        is left out: it only changes with ``legend`` (a full repaint)."""
        if self._image is None or not self._overlays:
            return None
        r = self.image_rect()
        box = QtCore.QRectF()
        for lm, _ in self._overlays:
            pts = to_pixels(lm, r)
            if pts is not None:
                lo, hi = pts.min(axis=0), pts.max(axis=0)
                box = box.united(QtCore.QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]))
        pad = max(2.0, r.width() / 220) + 6  # half a line, a joint radius, antialiasing
        return box.adjusted(-pad, -pad, pad, pad).toAlignedRect()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self._overlay_box = None  # in the old size's coordinates
        super().resizeEvent(event)

    def set_message(self, text: str) -> None:
        self._image, self._landmarks, self._message, self.has_hand = None, None, text, False
        self.frame_index = -1
        self.update()

    def image_rect(self) -> QtCore.QRectF:
        """Where the frame is drawn (aspect kept, centred)."""
        if self._image is None:
            return QtCore.QRectF(self.rect())
        iw, ih = self._image.width(), self._image.height()
        s = min(self.width() / iw, self.height() / ih)
        w, h = iw * s, ih * s
        return QtCore.QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        p = QtGui.QPainter(self)
        p.fillRect(self.rect(), QtGui.QColor("#0b0e11"))
        if self._image is None:
            p.setPen(QtGui.QColor("#9aa4ad"))
            p.drawText(self.rect(), QtCore.Qt.AlignmentFlag.AlignCenter, self._message)
            return
        r = self.image_rect()
        p.drawPixmap(r.topLeft(), self._scaled_frame(r))   # the frame and its detected hand
        width = max(2.0, r.width() / 220)
        for lm, color in self._overlays:
            pts = to_pixels(lm, r)
            if pts is not None:
                draw_hand(p, pts, color=color, width=width)
        clip = QtCore.QRectF(event.rect())  # an overlay's repaint is its box: skip what lies outside
        if self._overlays and self._legend:
            self._paint_legend(p, r, clip)
        if self._overlays and self.painted_hook is not None:
            self.painted_hook()
        # Status pill: hand / no hand and rates.
        text = ("hand" if self.has_hand else "no hand") + (f"   {self._info}" if self._info else "")
        f = p.font()
        f.setPointSizeF(max(9.0, f.pointSizeF()))
        f.setBold(True)
        p.setFont(f)
        fm = QtGui.QFontMetrics(f)
        box = QtCore.QRectF(r.x() + 8, r.y() + 8, fm.horizontalAdvance(text) + 16, fm.height() + 8)
        if not box.intersects(clip):
            return
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(QtGui.QColor(0, 0, 0, 160))
        p.drawRoundedRect(box, 6, 6)
        p.setPen(QtGui.QColor("#80ed99" if self.has_hand else "#ffb703"))
        p.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, text)

    def _scaled_frame(self, r: QtCore.QRectF) -> QtGui.QPixmap:
        """The frame smooth-scaled to ``r``'s size with the detected hand drawn on it (at device
        resolution, so it stays as sharp as drawn on the widget), made once per frame and size: a
        repaint for a new overlay only blits it (scaling the frame took most of a paint, and the
        detected hand was drawn again with every overlay)."""
        dpr = self.devicePixelRatioF()
        size = QtCore.QSize(max(1, round(r.width() * dpr)), max(1, round(r.height() * dpr)))
        if self._scaled is None or self._scaled.size() != size:
            img = self._image.scaled(size, QtCore.Qt.AspectRatioMode.IgnoreAspectRatio,
                                     QtCore.Qt.TransformationMode.SmoothTransformation)
            self._scaled = QtGui.QPixmap.fromImage(img)
            self._scaled.setDevicePixelRatio(dpr)
            if self._landmarks is not None:
                p = QtGui.QPainter(self._scaled)
                draw_hand(p, to_pixels(self._landmarks, QtCore.QRectF(0, 0, r.width(), r.height())),
                          width=max(2.0, r.width() / 220))
                p.end()
        return self._scaled

    def _paint_legend(self, p: QtGui.QPainter, r: QtCore.QRectF, clip: QtCore.QRectF) -> None:
        """Bottom-left box: a line sample in each hand's colour and its name."""
        from app.widgets.skeleton import FINGER_COLORS

        f = QtGui.QFont(p.font())
        f.setBold(False)
        p.setFont(f)
        fm = QtGui.QFontMetrics(f)
        row_h, sample_w = fm.height() + 4, 26
        w = sample_w + 14 + max(fm.horizontalAdvance(t) for t, _ in self._legend)
        box = QtCore.QRectF(r.x() + 8, r.bottom() - 8 - row_h * len(self._legend) - 6, w, row_h * len(self._legend) + 6)
        if not box.intersects(clip):
            return
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(QtGui.QColor(0, 0, 0, 170))
        p.drawRoundedRect(box, 6, 6)
        for k, (text, color) in enumerate(self._legend):
            y = box.y() + 3 + row_h * k + row_h / 2
            x0 = box.x() + 6
            colors = [color] if color else list(FINGER_COLORS.values())
            seg = sample_w / len(colors)
            for j, c in enumerate(colors):
                p.setPen(QtGui.QPen(QtGui.QColor(c), 3))
                p.drawLine(QtCore.QPointF(x0 + j * seg, y), QtCore.QPointF(x0 + (j + 1) * seg, y))
            p.setPen(QtGui.QColor("#e6e6e6"))
            p.drawText(QtCore.QRectF(x0 + sample_w + 6, y - row_h / 2, w, row_h),
                       QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignLeft, text)

    @property
    def legend(self) -> list[tuple[str, str | None]]:
        return list(self._legend) if self._overlays else []
