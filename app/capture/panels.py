"""Pieces of the Capture tab (:class:`app.capture.view.CaptureView`) that need nothing of the
capture itself: the message banner, the Recording box (buttons, clock, file line, output folder)
and the Session box (subject, hand, placement, notes). The view wires their buttons to its own
actions and fills their labels from its status timer; all of it runs on the GUI thread.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from app.qt.settings import Settings
from app.widgets.style import MESSAGE_COLORS

__all__ = ["ErrorBanner", "RecordingPanel", "SessionPanel"]


class ErrorBanner(QtWidgets.QFrame):
    """A dismissible message strip at the top of the view; never modal, so recording goes on."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QtWidgets.QLabel(wordWrap=True)
        close = QtWidgets.QToolButton(text="✕", autoRaise=True)
        close.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        close.clicked.connect(self.hide)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        bg, fg = MESSAGE_COLORS[level]
        self.setStyleSheet(f"QFrame#banner {{ background: {bg}; border-radius: 6px; }}"
                           f" QFrame#banner QLabel {{ color: {fg}; font-weight: bold; }}")
        self.label.setText(text)
        self.show()


class RecordingPanel(QtWidgets.QGroupBox):
    """The Recording box. Widgets: ``record_btn``, ``pause_btn``, ``stop_btn`` (not connected here),
    ``elapsed`` (the recording clock), ``file_info``, ``out_dir`` (the output folder, saved to
    ``settings`` when edited or browsed) and ``store_images`` (off: landmarks only, no images)."""

    def __init__(self, settings: Settings, parent=None):
        super().__init__("Recording", parent)
        self.settings = settings
        self.record_btn = QtWidgets.QPushButton("● Record")
        self.record_btn.setObjectName("recordButton")
        self.pause_btn = QtWidgets.QPushButton("Pause")
        self.stop_btn = QtWidgets.QPushButton("■ Stop")
        for b in (self.record_btn, self.pause_btn, self.stop_btn):
            b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # keys are for labels, not for buttons
        self.elapsed = QtWidgets.QLabel("00:00.0")
        self.elapsed.setObjectName("elapsed")
        self.elapsed.setStyleSheet("QLabel#elapsed { font-size: 26px; font-weight: bold; font-family: monospace; }")
        self.file_info = QtWidgets.QLabel("not recording", wordWrap=True)
        self.file_info.setStyleSheet("color: #9aa4ad;")
        self.out_dir = QtWidgets.QLineEdit(str(settings.output_dir()))
        self.out_dir.editingFinished.connect(lambda: self.settings.set_output_dir(self.out_dir.text()))
        browse = QtWidgets.QToolButton(text="…", toolTip="Choose the output folder")
        browse.clicked.connect(self._browse_out_dir)
        buttons = QtWidgets.QHBoxLayout()
        for b in (self.record_btn, self.pause_btn, self.stop_btn):
            buttons.addWidget(b)
        out = QtWidgets.QHBoxLayout()
        out.addWidget(QtWidgets.QLabel("Folder"))
        out.addWidget(self.out_dir, 1)
        out.addWidget(browse)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(buttons)
        lay.addWidget(self.elapsed, 0, QtCore.Qt.AlignmentFlag.AlignHCenter)
        lay.addWidget(self.file_info)
        lay.addLayout(out)
        # Unchecked: frames keep their times and landmarks, no image is stored (privacy, size).
        self.store_images = QtWidgets.QCheckBox("Store camera images", checked=True,
                                                toolTip="Off: landmarks only, no video frames in the file")
        lay.addWidget(self.store_images)

    def _browse_out_dir(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Output folder", self.out_dir.text())
        if d:
            self.out_dir.setText(d)
            self.settings.set_output_dir(d)


class SessionPanel(QtWidgets.QGroupBox):
    """The Session box: ``subject``, ``hand``, ``placement``, ``notes``, filled from
    ``settings.metadata()``; :meth:`metadata` reads them back for the session file."""

    def __init__(self, settings: Settings, parent=None):
        super().__init__("Session", parent)
        m = settings.metadata()
        self.subject = QtWidgets.QLineEdit(m.get("subject", ""), placeholderText="subject id")
        self.hand = QtWidgets.QComboBox()
        self.hand.addItems(["right", "left"])
        self.hand.setCurrentText(m.get("hand", "right"))
        self.placement = QtWidgets.QLineEdit(m.get("placement", ""),
                                             placeholderText="e.g. logo up, 4 cm below elbow")
        self.notes = QtWidgets.QPlainTextEdit(m.get("notes", ""))
        self.notes.setPlaceholderText("notes saved into the file")
        self.notes.setMinimumHeight(50)
        self.notes.setMaximumHeight(110)
        f = QtWidgets.QFormLayout(self)
        f.addRow("Subject", self.subject)
        f.addRow("Arm / hand", self.hand)
        f.addRow("Placement", self.placement)
        f.addRow("Notes", self.notes)

    def metadata(self) -> dict:
        """{"subject", "hand", "placement", "notes"}: the fields as typed, stripped."""
        return {"subject": self.subject.text().strip(), "hand": self.hand.currentText(),
                "placement": self.placement.text().strip(), "notes": self.notes.toPlainText().strip()}
