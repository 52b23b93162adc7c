"""Review view: scrub a recorded session (EMG, landmarks, video with skeleton), edit its labels with
undo/redo, save them back, and re-run MediaPipe on the stored frames.

The view owns an open :class:`recorder.session.format.SessionReader` (read-only) and an
:class:`recorder.session.annotations.AnnotationModel`; the file is only written by
``session.save_annotations`` (labels/markers) and ``session.save_landmarks`` (landmarks), each with
the reader closed for the moment of writing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QElapsedTimer, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QKeySequence, QPainter
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QHeaderView, QInputDialog, QLabel, QMessageBox,
                               QProgressBar, QPushButton, QSizePolicy, QSlider, QSplitter, QToolBar,
                               QToolButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from recorder.session.annotations import AnnotationError, AnnotationModel
from recorder.capture.redetect import detect_session_landmarks
from recorder.session.format import SessionFormatError, SessionReader, save_annotations

from app.widgets.skeleton import bgr_to_qimage, draw_hand, to_pixels
from app.review.timeline import TimelineWidget
from app.qt.workers import BAR_STEPS, Progress, Worker, WorkerPool, show_progress
from app.widgets.style import MESSAGE_COLORS

log = logging.getLogger(__name__)

__all__ = ["ReviewView", "FrameView", "LandmarkSettingsDialog", "detect_session_landmarks"]


def _fmt_time(t: float) -> str:
    m, s = divmod(max(0.0, t), 60.0)
    return f"{int(m):02d}:{s:06.3f}"


# ------------------------------------------------------------------------------------------------
# Widgets
# ------------------------------------------------------------------------------------------------

class FrameView(QWidget):
    """Shows one stored video frame (aspect kept) with its landmarks drawn on top."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._image = None
        self._landmarks: np.ndarray | None = None
        self._caption = ""
        self._placeholder = NO_SESSION

    def sizeHint(self) -> QSize:
        return QSize(420, 320)

    def set_frame(self, bgr: np.ndarray | None, image_landmarks: np.ndarray | None, caption: str = "") -> None:
        """bgr: (H, W, 3) uint8 or None; image_landmarks: (21, 3) normalised or None/NaN for no hand."""
        self._image = bgr_to_qimage(bgr) if bgr is not None else None
        self._landmarks = image_landmarks
        self._caption = caption
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._image, self._landmarks, self._placeholder = None, None, text
        self.update()

    def image_rect(self) -> QRectF:
        if self._image is None:
            return QRectF()
        w, h = self._image.width(), self._image.height()
        s = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * s) / 2, (self.height() - h * s) / 2, w * s, h * s)

    def paintEvent(self, ev):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#1b1f24"))
        if self._image is None:
            p.setPen(QColor("#8a939c"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            p.end()
            return
        rect = self.image_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.drawImage(rect, self._image)
        if self._landmarks is not None:
            pts = to_pixels(self._landmarks, rect)
            if pts is not None:
                draw_hand(p, pts, width=max(2.0, rect.width() / 220))
        if self._caption:
            f = QFont(p.font())
            f.setPointSizeF(max(8.0, f.pointSizeF()))
            p.setFont(f)
            box = p.fontMetrics().boundingRect(self._caption).adjusted(-6, -3, 6, 3)
            box.moveTopLeft(rect.topLeft().toPoint() + QRectF(0, 0, 6, 6).bottomRight().toPoint())
            p.fillRect(box, QColor(0, 0, 0, 150))
            p.setPen(QColor("#f0f0f0"))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, self._caption)
        p.end()


class LandmarkSettingsDialog(QDialog):
    """MediaPipe Hands settings for a re-run."""

    def __init__(self, parent=None, model_complexity: int = 1, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5):
        super().__init__(parent)
        self.setWindowTitle("Re-run hand detection")
        form = QFormLayout(self)
        self.complexity = QComboBox()
        self.complexity.addItems(["0 (lite, faster)", "1 (full)"])
        self.complexity.setCurrentIndex(int(model_complexity))
        self.detection = QDoubleSpinBox(minimum=0.05, maximum=0.95, singleStep=0.05, value=min_detection_confidence)
        self.tracking = QDoubleSpinBox(minimum=0.05, maximum=0.95, singleStep=0.05, value=min_tracking_confidence)
        self.static = QCheckBox("detect on every frame (no tracking)")
        form.addRow("Model complexity", self.complexity)
        form.addRow("Min detection confidence", self.detection)
        form.addRow("Min tracking confidence", self.tracking)
        form.addRow("", self.static)
        form.addRow(QLabel("The stored landmarks are replaced when the run completes.\n"
                           "EMG, video and labels are not changed."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def options(self) -> dict:
        return dict(model_complexity=self.complexity.currentIndex(),
                    min_detection_confidence=round(self.detection.value(), 3),
                    min_tracking_confidence=round(self.tracking.value(), 3),
                    static_image_mode=self.static.isChecked())


NO_SESSION = ("No session open.\nOpen one (Ctrl+O), double-click one in the Library tab,\n"
              "or record one in the Capture tab.")


class ReviewView(QWidget):
    """Scrub, label and re-process one session file. Use ``open_session(path)``; before the window
    closes or another file is opened the user is asked about unsaved label edits (``maybe_close``)."""

    session_opened = Signal(str)
    session_saved = Signal(str)
    landmarks_updated = Signal(str)
    dirty_changed = Signal(bool)
    message = Signal(str)  # one-line status for the main window's status bar

    SLIDER_STEPS_PER_S = 100

    def __init__(self, parent=None):
        super().__init__(parent)
        self.path: Path | None = None
        self.start_folder: Path | None = None    # where Open… starts (the sessions folder)
        self.recording_path: Path | None = None  # the file the Capture tab is writing now, if any
        self.read_only = False
        self.offered: Path | None = None
        self.reader: SessionReader | None = None
        self.model: AnnotationModel | None = None
        self._unsubscribe = None
        self._video_t = np.zeros(0)
        self._shown_frame = -1
        self._frame_cache: tuple[int, np.ndarray] | None = None
        self._landmarks_image: np.ndarray | None = None
        self._scores: np.ndarray | None = None
        self._was_dirty = False
        self.job: Worker | None = None
        self.pool = WorkerPool(self, max_threads=1)
        self.landmark_options = dict(model_complexity=1, min_detection_confidence=0.5,
                                     min_tracking_confidence=0.5, static_image_mode=False)
        self._build()
        self._update_actions()

    # ---------------------------------------------------------------- layout
    def _build(self) -> None:
        self.toolbar = QToolBar()
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tb = self.toolbar

        def act(text, slot, shortcut=None, tip=""):
            a = QAction(text, self)
            a.triggered.connect(lambda *_: slot())  # not slot(checked): slots take optional values
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
                a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            a.setToolTip(f"{tip or text} ({QKeySequence(shortcut).toString()})" if shortcut else (tip or text))
            self.addAction(a)
            return a

        self.act_open = act("Open…", self.choose_file, QKeySequence.StandardKey.Open, "Open a session file")
        self.act_save = act("Save", self.save, QKeySequence.StandardKey.Save, "Save labels and markers")
        self.act_undo = act("Undo", self.undo, QKeySequence.StandardKey.Undo)
        self.act_redo = act("Redo", self.redo, QKeySequence.StandardKey.Redo)
        self.act_add = act("Add label", self.add_label, "L", "Label the selected range (or 1 s at the cursor)")
        self.act_rename = act("Rename", self.rename_selected, "F2", "Rename the selected label")
        self.act_delete = act("Delete", self.delete_selected, QKeySequence.StandardKey.Delete,
                              "Delete the selected label")
        self.act_marker = act("Marker", self.add_marker, "M", "Add a marker at the cursor")
        self.act_play = act("▶ Play", self.toggle_play, "Space", "Play / pause at real speed")
        self.act_rerun = act("Re-run hands…", self.rerun_landmarks, None,
                             "Run MediaPipe again on the stored frames")
        for a in (self.act_open, self.act_save):
            tb.addAction(a)
        tb.addSeparator()
        for a in (self.act_undo, self.act_redo):
            tb.addAction(a)
        tb.addSeparator()
        tb.addWidget(QLabel(" Name "))
        self.name_box = QComboBox(editable=True)
        self.name_box.setMinimumContentsLength(10)
        self.name_box.setToolTip("Name for new labels")
        self.name_box.setCurrentText("gesture")
        tb.addWidget(self.name_box)
        for a in (self.act_add, self.act_rename, self.act_delete, self.act_marker):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.act_play)
        self.speed_box = QComboBox()
        self.speed_box.addItems(["0.25×", "0.5×", "1×", "2×", "4×"])
        self.speed_box.setCurrentText("1×")
        self.speed_box.setToolTip("Playback speed")
        tb.addWidget(self.speed_box)
        tb.addSeparator()
        tb.addAction(self.act_rerun)

        self.frame_view = FrameView()
        self.label_list = QTreeWidget()
        self.label_list.setHeaderLabels(["label", "start", "end", "dur"])
        self.label_list.setRootIsDecorated(False)
        self.label_list.setAlternatingRowColors(True)
        self.label_list.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2, 3):
            self.label_list.header().setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.label_list.itemSelectionChanged.connect(self._list_selection_changed)
        self.label_list.itemDoubleClicked.connect(lambda *_: self.rename_selected())
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.frame_view)
        left.addWidget(self.label_list)
        left.addWidget(self.info)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)

        self.timeline = TimelineWidget()
        self.timeline.cursor_moved.connect(self.set_time)
        lane = self.timeline.lane
        lane.rename_requested.connect(self.rename_segment)
        lane.marker_edit_requested.connect(self._edit_marker)
        lane.segment_selected.connect(self._lane_selected)
        lane.edit_failed.connect(self._show_edit_error)
        lane.selection_changed.connect(lambda *_: self._update_actions())

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.timeline)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 5)
        self.splitter = split

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(lambda v: self.set_time(v / self.SLIDER_STEPS_PER_S))
        self.time_label = QLabel(_fmt_time(0) + " / " + _fmt_time(0))
        self.time_label.setFont(QFont("monospace"))
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("%p%")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_job)
        self.progress.hide()
        self.cancel_button.hide()
        bottom = QHBoxLayout()
        bottom.addWidget(self.slider, 1)
        bottom.addWidget(self.time_label)
        bottom.addWidget(self.progress)
        bottom.addWidget(self.cancel_button)

        # "New recording: NAME [Open]" after a recording, and the read-only note for a live file.
        self.offer_bar = QWidget()
        ob = QHBoxLayout(self.offer_bar)
        ob.setContentsMargins(6, 2, 6, 2)
        self.offer_label = QLabel()
        self.offer_button = QPushButton("Open in Review")
        self.offer_button.clicked.connect(lambda: self.offered is not None and self.open_session(self.offered))
        ob.addWidget(self.offer_label, 1)
        ob.addWidget(self.offer_button)
        self.offer_bar.setStyleSheet("background: {}; color: {}; border-radius: 6px;".format(*MESSAGE_COLORS["info"]))
        self.offer_bar.hide()
        self.read_only_note = QLabel()
        self.read_only_note.setWordWrap(True)
        self.read_only_note.setStyleSheet("background: {}; color: {}; font-weight: bold;"
                                          " border-radius: 6px; padding: 3px 8px;".format(*MESSAGE_COLORS["warn"]))
        self.read_only_note.hide()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.offer_bar)
        lay.addWidget(self.read_only_note)
        lay.addWidget(split, 1)
        lay.addLayout(bottom)

        self._play_timer = QTimer(self, interval=33)
        self._play_timer.timeout.connect(self._play_tick)
        self._clock = QElapsedTimer()
        self._play_from = 0.0

    # ------------------------------------------------------------- file I/O
    def offer_session(self, path, what: str = "recording") -> None:
        """Offer a just-recorded (or imported) session ("New recording: NAME  [Open in Review]")."""
        self.offered = Path(path)
        if self.path is not None and self.path == self.offered and not self.read_only:
            self.offer_bar.hide()
            return
        verb = "Reopen" if self.path == self.offered else "Open in Review"
        self.offer_label.setText(f"New {what}: {self.offered.name}")
        self.offer_button.setText(verb)
        self.offer_bar.show()

    def choose_file(self) -> None:
        start = str(self.path.parent) if self.path else str(self.start_folder or "")
        path, _ = QFileDialog.getOpenFileName(self, "Open session", start, "Sessions (*.h5 *.hdf5);;All files (*)")
        if path:
            self.open_session(path)

    def open_session(self, path) -> bool:
        """Open a session file (asks about unsaved edits of the current one first). False when the
        user cancelled or the file could not be opened (the error is shown)."""
        if self.path is not None and not self.maybe_close():
            return False
        path = Path(path)
        reader = None
        try:
            reader = SessionReader(path)
            # Read what the view needs now, so a damaged chunk (checksum) is refused here, not in a slot.
            labels, markers, duration = reader.labels, reader.markers, reader.duration_s
            np.asarray(reader.landmarks_score)
        except (SessionFormatError, OSError) as e:
            if reader is not None:
                reader.close()
            QMessageBox.critical(self, "Cannot open session", str(e))
            return False
        self._close_session()
        self.reader, self.path = reader, path
        self._set_read_only(reader)
        self.model = AnnotationModel(labels, markers, duration_s=duration)
        self._unsubscribe = self.model.subscribe(self._model_changed)
        try:
            self._load_video_meta()
        except SessionFormatError as e:
            self._close_session()
            QMessageBox.critical(self, "Cannot open session", str(e))
            return False
        self.timeline.set_session(reader, self.model)
        self.slider.setRange(0, int(round(reader.duration_s * self.SLIDER_STEPS_PER_S)))
        self._refresh_names()
        self._refresh_list()
        self._refresh_info()
        self._shown_frame = -1
        self.set_time(0.0)
        self._update_actions()
        self.session_opened.emit(str(path))
        self.message.emit(f"Opened {path.name}")
        return True

    def _set_read_only(self, reader: SessionReader) -> None:
        """A file still being written (the Capture tab's, or flagged open for write) is shown
        read-only: its one writer is the recorder, and a save would race it."""
        live = self.recording_path is not None and Path(self.recording_path).resolve() == self.path.resolve()
        try:
            from recorder.session.writelock import holder
            writer = holder(self.path)      # a recorder (this app's or another process) holds it
        except ImportError:
            writer = None
        live = live or writer is not None
        flagged = bool(getattr(reader, "opened_swmr", False)) and not reader.complete
        self.read_only = live or flagged
        self.timeline.lane.read_only = self.read_only
        if live:
            self.read_only_note.setText(f"Read-only: {self.path.name} is being recorded now (showing the first "
                                        f"{reader.duration_s:.1f} s). Stop the recording, then reopen it to edit "
                                        "labels.")
        elif flagged:
            self.read_only_note.setText(f"Read-only: {self.path.name} is open for writing (being recorded, or its "
                                        "recorder did not close it). Labels cannot be saved here.")
        self.read_only_note.setVisible(self.read_only)
        if self.offered is not None and self.offered == self.path and not self.read_only:
            self.offer_bar.hide()

    def _load_video_meta(self) -> None:
        r = self.reader
        self._video_t = np.asarray(r.video_t, dtype=np.float64)
        self._landmarks_image = np.asarray(r.landmarks_image, dtype=np.float32) if r.n_frames else None
        self._scores = np.asarray(r.landmarks_score, dtype=np.float32) if r.n_frames else None
        self._frame_cache = None
        if not r.n_frames:
            self.frame_view.set_placeholder("No video in this session")

    def _close_session(self) -> None:
        self.stop()
        self.read_only = self.timeline.lane.read_only = False
        self.read_only_note.hide()
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        self.timeline.clear_session()
        if self.reader is not None:
            self.reader.close()
        self.reader = self.model = self.path = None
        self._video_t = np.zeros(0)
        self._frame_cache = None
        self.frame_view.set_placeholder(NO_SESSION)
        self.label_list.clear()
        self.info.clear()

    def _reopen_reader(self) -> None:
        """Open the file again after a write, keeping the view, cursor and label model."""
        self.reader = SessionReader(self.path)
        self.timeline.reader = self.reader
        self.timeline._loaded = None
        self._load_video_meta()

    def save(self) -> bool:
        """Write labels and markers to the file (raw data untouched). False on error."""
        if self.model is None or self.path is None:
            return False
        if self.read_only:
            self.message.emit(f"{self.path.name} is read-only while it is being recorded")
            return False
        self.reader.close()
        try:
            save_annotations(self.path, self.model.labels(), self.model.markers())
        except (ValueError, OSError) as e:
            QMessageBox.critical(self, "Cannot save labels", str(e))
            return False
        finally:
            self._reopen_reader()
        self.model.mark_saved()
        self._refresh_info()
        self.session_saved.emit(str(self.path))
        self.message.emit(f"Saved {len(self.model.labels())} labels to {self.path.name}")
        return True

    def has_unsaved_changes(self) -> bool:
        return self.model is not None and self.model.dirty

    def maybe_close(self) -> bool:
        """Ask Save / Discard / Cancel when there are unsaved label edits. True when it is fine to
        close (saved or discarded), False to keep the session open."""
        if not self.has_unsaved_changes():
            return True
        b = QMessageBox.question(
            self, "Unsaved labels", f"Save label changes to {self.path.name}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if b == QMessageBox.StandardButton.Save:
            return self.save()
        return b == QMessageBox.StandardButton.Discard

    def shutdown(self) -> None:
        """Stop playback and jobs (cancelled, joined) and close the file. No prompt."""
        self.stop()
        self.pool.shutdown()
        self._close_session()

    def closeEvent(self, ev):
        if not self.maybe_close():
            ev.ignore()
            return
        self.shutdown()
        super().closeEvent(ev)

    # -------------------------------------------------------------- cursor
    @property
    def time_s(self) -> float:
        return self.timeline.cursor_s

    def set_time(self, t: float) -> None:
        """Move the cursor to t session seconds: timeline, slider, frame and time label follow."""
        if self.reader is None:
            return
        dur = float(self.reader.duration_s)
        t = min(max(float(t), 0.0), dur)
        follow = self._play_timer.isActive()
        self.timeline.set_cursor(t, follow=follow)
        self.slider.blockSignals(True)
        self.slider.setValue(int(round(t * self.SLIDER_STEPS_PER_S)))
        self.slider.blockSignals(False)
        self.time_label.setText(f"{_fmt_time(t)} / {_fmt_time(dur)}")
        self._show_frame_at(t)

    def frame_index_at(self, t: float) -> int:
        """Index of the stored frame nearest to t session seconds (-1 without video)."""
        vt = self._video_t
        if not len(vt):
            return -1
        i = int(np.searchsorted(vt, t))
        if i > 0 and (i == len(vt) or t - vt[i - 1] <= vt[i] - t):
            i -= 1
        return i

    def _show_frame_at(self, t: float) -> None:
        i = self.frame_index_at(t)
        if i < 0 or i == self._shown_frame:
            return
        try:
            img = self.reader.frame(i)
        except SessionFormatError as e:
            self.frame_view.set_placeholder(str(e))
            return
        lm = self._landmarks_image[i] if self._landmarks_image is not None else None
        score = float(self._scores[i]) if self._scores is not None else float("nan")
        hand = f"hand {score:.2f}" if np.isfinite(score) and score > 0 else "no hand"
        segs = ", ".join(s.name for s in self.model.segments_at(t)) if self.model else ""
        caption = f"frame {i}  {self._video_t[i]:.2f} s  {hand}" + (f"  [{segs}]" if segs else "")
        self.frame_view.set_frame(img, lm, caption)
        self._shown_frame = i

    # ------------------------------------------------------------- playback
    def toggle_play(self) -> None:
        if self._play_timer.isActive():
            self.stop()
        else:
            self.play()

    def play(self) -> None:
        if self.reader is None:
            return
        if self.time_s >= self.reader.duration_s - 1e-3:
            self.set_time(0.0)
        self._play_from = self.time_s
        self._clock.start()
        self._play_timer.start()
        self.act_play.setText("❚❚ Pause")

    def stop(self) -> None:
        self._play_timer.stop()
        self.act_play.setText("▶ Play")

    @property
    def playing(self) -> bool:
        return self._play_timer.isActive()

    def speed(self) -> float:
        return float(self.speed_box.currentText().rstrip("×"))

    def _play_tick(self) -> None:
        # Position from elapsed wall time, not from tick counts, so playback is real speed even
        # when a tick is late.
        t = self._play_from + self._clock.elapsed() / 1000.0 * self.speed()
        if t >= self.reader.duration_s:
            self.set_time(self.reader.duration_s)
            self.stop()
            return
        self.set_time(t)

    # --------------------------------------------------------------- labels
    def selected_segment(self) -> int | None:
        return self.timeline.lane.selected_id

    def add_label(self, name: str | None = None) -> int | None:
        """Label the selected time range (dragged on the label lane), or 1 s from the cursor."""
        if self.model is None:
            return None
        name = (name if name is not None else self.name_box.currentText()).strip()
        if not name:
            name, ok = QInputDialog.getText(self, "Add label", "Label name:")
            if not ok or not name.strip():
                return None
        rng = self.timeline.lane.selection_range()
        start, end = rng if rng else (self.time_s, min(self.time_s + 1.0, self.model.duration_s))
        try:
            sid = self.model.add_segment(start, end, name)
        except AnnotationError as e:
            self._show_edit_error(str(e))
            return None
        self.timeline.lane.clear_selection()
        self.timeline.lane.select(sid)
        return sid

    def rename_segment(self, sid: int, name: str | None = None) -> None:
        if self.model is None:
            return
        if name is None:
            seg = self.model.segment(sid)
            name, ok = QInputDialog.getItem(self, "Rename label", "Label name:",
                                            [seg.name] + [n for n in self.model.names() if n != seg.name],
                                            0, True)
            if not ok:
                return
        try:
            self.model.rename_segment(sid, name)
        except AnnotationError as e:
            self._show_edit_error(str(e))

    def rename_selected(self) -> None:
        sid = self.selected_segment()
        if sid is not None:
            self.rename_segment(sid)

    def delete_selected(self) -> None:
        sid = self.selected_segment()
        if sid is not None and self.model is not None:
            self.model.delete_segment(sid)

    def add_marker(self, text: str | None = None) -> int | None:
        if self.model is None:
            return None
        if text is None:
            text, ok = QInputDialog.getText(self, "Add marker", f"Marker at {self.time_s:.2f} s:")
            if not ok:
                return None
        return self.model.add_marker(self.time_s, text)

    def _edit_marker(self, mid: int) -> None:
        m = self.model.marker(mid)
        text, ok = QInputDialog.getText(self, "Edit marker", "Text (empty deletes the marker):", text=m.text)
        if ok:
            self.model.set_marker(mid, text=text) if text.strip() else self.model.delete_marker(mid)

    def undo(self) -> None:
        if self.model is not None:
            self.model.undo()

    def redo(self) -> None:
        if self.model is not None:
            self.model.redo()

    def _show_edit_error(self, text: str) -> None:
        self.message.emit(f"Label edit refused: {text}")

    def _model_changed(self, changes) -> None:
        self._refresh_list()
        self._refresh_names()
        self._update_actions()
        self._shown_frame = -1  # caption lists the labels under the cursor
        self._show_frame_at(self.time_s)
        if self.model.dirty != self._was_dirty:
            self._was_dirty = self.model.dirty
            self.dirty_changed.emit(self._was_dirty)

    def _refresh_names(self) -> None:
        current = self.name_box.currentText()
        names = self.model.names() if self.model else []
        self.name_box.blockSignals(True)
        self.name_box.clear()
        self.name_box.addItems(names)
        self.name_box.setCurrentText(current)
        self.name_box.blockSignals(False)

    def _refresh_list(self) -> None:
        lst = self.label_list
        lst.blockSignals(True)
        lst.clear()
        if self.model is not None:
            for s in self.model.segments():
                it = QTreeWidgetItem([s.name, f"{s.start_s:.2f}", f"{s.end_s:.2f}", f"{s.duration_s:.2f}"])
                it.setData(0, Qt.ItemDataRole.UserRole, s.id)
                it.setBackground(0, self.timeline.lane.colors.color(s.name, 110))
                lst.addTopLevelItem(it)
                if s.id == self.selected_segment():
                    it.setSelected(True)
        lst.blockSignals(False)

    def _list_selection_changed(self) -> None:
        items = self.label_list.selectedItems()
        if not items or self.model is None:
            return
        sid = items[0].data(0, Qt.ItemDataRole.UserRole)
        self.timeline.lane.select(sid)
        seg = self.model.segment(sid)
        self.set_time(seg.start_s)
        x0, x1 = self.timeline.emg_plot.getViewBox().viewRange()[0]
        if not (x0 <= seg.start_s and seg.end_s <= x1):
            pad = max(1.0, seg.duration_s)
            self.timeline.show_range(seg.start_s - pad, seg.end_s + pad)

    def _lane_selected(self, sid) -> None:
        self._update_actions()
        lst = self.label_list
        lst.blockSignals(True)
        for k in range(lst.topLevelItemCount()):
            it = lst.topLevelItem(k)
            it.setSelected(it.data(0, Qt.ItemDataRole.UserRole) == sid)
        lst.blockSignals(False)

    def _refresh_info(self) -> None:
        r = self.reader
        if r is None:
            self.info.clear()
            return
        a = r.attrs
        cov = float(r.has_hand().mean()) * 100 if r.n_frames else float("nan")
        self.info.setText(
            f"<b>{self.path.name}</b><br>{a.get('created_utc', '')}  subject: {a.get('subject', '') or '—'}<br>"
            f"{r.duration_s:.1f} s · {len(r.channel_names)} ch @ {r.sample_rate_hz:g} Hz · "
            f"{r.n_frames} frames · hand {cov:.0f} %")

    def _update_actions(self) -> None:
        has = self.model is not None
        busy = self.job is not None and not self.job.done
        self.act_undo.setEnabled(has and self.model.can_undo())
        self.act_redo.setEnabled(has and self.model.can_redo())
        self.act_undo.setToolTip(f"Undo {self.model.undo_text()}" if has and self.model.can_undo() else "Undo")
        self.act_redo.setToolTip(f"Redo {self.model.redo_text()}" if has and self.model.can_redo() else "Redo")
        sel = has and self.selected_segment() is not None
        edit = has and not self.read_only
        self.act_save.setEnabled(edit and self.model.dirty and not busy)
        for a in (self.act_add, self.act_marker):
            a.setEnabled(edit)
        self.act_play.setEnabled(has)
        self.act_rename.setEnabled(sel and edit)
        self.act_delete.setEnabled(sel and edit)
        self.act_rerun.setEnabled(edit and not busy and self.reader is not None and self.reader.n_frames > 0)
        self.act_open.setEnabled(not busy)

    # ------------------------------------------------------ landmark re-run
    def rerun_landmarks(self, options: dict | None = None) -> Worker | None:
        """Re-detect hands on the stored frames in a worker; asks for settings when options is None.
        The file's /landmarks are replaced when the run completes (not when cancelled)."""
        if self.reader is None or (self.job is not None and not self.job.done):
            return None
        if options is None:
            dlg = LandmarkSettingsDialog(self, self.landmark_options["model_complexity"],
                                         self.landmark_options["min_detection_confidence"],
                                         self.landmark_options["min_tracking_confidence"])
            if dlg.exec() != QDialog.DialogCode.Accepted:
                return None
            options = dlg.options()
        self.landmark_options.update(options)
        self.stop()
        w = self.pool.worker(detect_session_landmarks, self.path, dict(options))
        self.job = w
        w.signals.progress.connect(self._job_progress)
        w.signals.returned.connect(self._landmarks_ready)
        w.signals.errored.connect(lambda e: QMessageBox.warning(self, "Hand detection failed", str(e)))
        w.signals.aborted.connect(lambda: self.message.emit("Hand detection cancelled; landmarks unchanged"))
        w.signals.finished.connect(self._job_finished)
        w.start()
        self.progress.setRange(0, BAR_STEPS)
        self.progress.setValue(0)
        self.progress.setFormat("hands %p%")
        self.progress.show()
        self.cancel_button.show()
        self._update_actions()
        return w

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _job_progress(self, p: Progress) -> None:
        show_progress(self.progress, p)

    def _landmarks_ready(self, result: dict) -> None:
        from recorder.session.format import save_landmarks

        self.reader.close()
        try:
            save_landmarks(self.path, result["image"], result["world_mm"], result["score"],
                           handedness=result["handedness"], settings=result["options"])
        except (ValueError, OSError) as e:
            QMessageBox.critical(self, "Cannot save landmarks", str(e))
        else:
            n = int(np.isfinite(result["world_mm"][:, 0, 0]).sum())
            self.message.emit(f"Hands found in {n} of {len(result['score'])} frames; landmarks saved")
        finally:
            self._reopen_reader()
        t = self.time_s
        x0, x1 = self.timeline.emg_plot.getViewBox().viewRange()[0]
        self.timeline.set_session(self.reader, self.model)
        self.timeline.show_range(x0, x1)
        self._shown_frame = -1
        self._refresh_info()
        self.set_time(t)
        self.landmarks_updated.emit(str(self.path))

    def _job_finished(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self._update_actions()
