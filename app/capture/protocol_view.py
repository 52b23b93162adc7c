"""Prompted protocol panel: big "make a fist" / "rest" prompt with a countdown, N repetitions per
gesture, automatic labels, and Redo for the last repetition.

The timing and segments come from :class:`recorder.capture.protocol.Protocol`; this widget only shows its
state and writes the segments that became final to the capture (``capture.add_label``). A redone
repetition was never written (the protocol keeps the last one pending), so nothing is deleted.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from recorder.core.clock import now
from recorder.capture.protocol import COUNTDOWN, DONE, HOLD, IDLE, REST, Protocol

_PHASE_STYLE = {
    HOLD: ("#1b4332", "#d8f3dc"),
    REST: ("#1d3557", "#a8dadc"),
    COUNTDOWN: ("#3d2c00", "#ffd166"),
    DONE: ("#22282e", "#adb5bd"),
    IDLE: ("#22282e", "#6c757d"),
}


class _WrappingLine(QtWidgets.QPlainTextEdit):
    """A one-paragraph text field that wraps (two lines high), so a long gesture list stays
    readable in the narrow panel; Enter does not add a line. ``text()`` / ``setText()`` as QLineEdit."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setTabChangesFocus(True)
        lines = 2
        fm = self.fontMetrics()
        self.setFixedHeight(int(fm.lineSpacing() * lines + 2 * self.frameWidth()
                                + self.document().documentMargin() * 2 + 2))

    def text(self) -> str:
        return self.toPlainText().replace("\n", " ")

    def setText(self, text: str) -> None:  # noqa: N802 (QLineEdit naming)
        self.setPlainText(text)

    def keyPressEvent(self, ev) -> None:  # noqa: N802 (Qt naming)
        if ev.key() in (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter):
            ev.ignore()
            return
        super().keyPressEvent(ev)


class ProtocolView(QtWidgets.QGroupBox):
    """Runs a :class:`Protocol` against the current capture.

    Signals: recording_needed() when Start is pressed while not recording (the capture view starts
    a recording, then the protocol runs); running_changed(bool).
    """

    recording_needed = QtCore.Signal()
    running_changed = QtCore.Signal(bool)
    holding = QtCore.Signal(str)  # the gesture being held now (the label it writes), "" otherwise

    def __init__(self, gestures: list[str], params: dict | None = None, parent=None):
        super().__init__("Prompted protocol", parent)
        p = {"reps": 5, "hold_s": 3.0, "rest_s": 3.0, "countdown_s": 3.0, **(params or {})}
        self.capture = None
        self.protocol: Protocol | None = None
        self.labels_written = 0
        self._gestures = list(gestures)
        self._holding = ""

        self.gesture_edit = _WrappingLine(", ".join(g for g in gestures if g != "rest"))
        self.gesture_edit.setToolTip("Gestures to prompt, comma separated, in order")
        # The idle text repeats the whole list too.
        self.gesture_edit.textChanged.connect(lambda: self.protocol is None and self._show(None))
        self.reps = QtWidgets.QSpinBox(minimum=1, maximum=50, value=int(p["reps"]))
        self.hold = self._seconds(p["hold_s"], 0.5)
        self.rest = self._seconds(p["rest_s"], 0.0)
        self.countdown = self._seconds(p["countdown_s"], 0.0)
        form = QtWidgets.QFormLayout()
        form.addRow("Gestures", self.gesture_edit)
        row = QtWidgets.QHBoxLayout()
        for label, w in (("reps", self.reps), ("hold", self.hold), ("rest", self.rest), ("ready", self.countdown)):
            row.addWidget(QtWidgets.QLabel(label))
            row.addWidget(w)
        form.addRow(row)

        self.prompt = QtWidgets.QLabel()
        self.prompt.setObjectName("prompt")
        self.prompt.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.prompt.setMinimumHeight(64)
        self.detail = QtWidgets.QLabel()
        self.detail.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.detail.setWordWrap(True)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setTextVisible(True)
        self.start_btn = QtWidgets.QPushButton("Start protocol")
        self.redo_btn = QtWidgets.QPushButton("Redo last")
        self.redo_btn.setToolTip("Discard the last repetition and prompt it again")
        self.start_btn.clicked.connect(self._start_stop)
        self.redo_btn.clicked.connect(self.redo)
        for b in (self.start_btn, self.redo_btn):
            b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # Space/Enter must not re-press them
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.start_btn)
        buttons.addWidget(self.redo_btn)

        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.prompt)
        lay.addWidget(self.detail)
        lay.addWidget(self.progress)
        lay.addLayout(buttons)

        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(50)
        self.timer.timeout.connect(self.tick)
        self._show(None)

    @staticmethod
    def _seconds(v: float, minimum: float) -> QtWidgets.QDoubleSpinBox:
        w = QtWidgets.QDoubleSpinBox(minimum=minimum, maximum=60.0, value=float(v), singleStep=0.5, decimals=1)
        w.setSuffix(" s")
        return w

    def params(self) -> dict:
        return {"reps": self.reps.value(), "hold_s": self.hold.value(), "rest_s": self.rest.value(),
                "countdown_s": self.countdown.value()}

    def set_capture(self, capture) -> None:
        if capture is not self.capture:
            self.stop()
        self.capture = capture

    @property
    def running(self) -> bool:
        return self.protocol is not None

    # -- control ------------------------------------------------------------------------------------
    def _start_stop(self) -> None:
        if self.running:
            self.stop()
        elif self.capture is None:
            self.detail.setText("Connect a device first")
        elif not self.capture.recording:
            self.recording_needed.emit()  # the capture view starts recording, then calls start()
        else:
            self.start()

    def start(self) -> None:
        """Begin the protocol now (the capture should be recording so the labels are kept)."""
        gestures = [g.strip() for g in self.gesture_edit.text().split(",") if g.strip()]
        try:
            self.protocol = Protocol(gestures, **self.params())
        except ValueError as e:
            self.detail.setText(str(e))
            return
        self.labels_written = 0
        self.protocol.start(now())
        self.timer.start()
        self.start_btn.setText("Stop protocol")
        self.running_changed.emit(True)
        self.tick()

    def stop(self) -> None:
        """End the protocol, writing every finished segment (call before the recording stops)."""
        if self.protocol is None:
            return
        self._write(self.protocol.finish(now()))
        self.protocol = None
        self.timer.stop()
        self.start_btn.setText("Start protocol")
        self.running_changed.emit(False)
        self._show(None)

    def redo(self) -> None:
        if self.protocol is None:
            return
        dropped = self.protocol.redo_last(now())
        if dropped:
            self.detail.setText(f"Redoing {dropped[0].name} #{dropped[0].rep}")
        self.tick()

    def tick(self) -> None:
        if self.protocol is None:
            return
        st = self.protocol.update(now())
        self._write(self.protocol.pop_committed())
        self._show(st)
        if st.phase == DONE:
            self.stop()
            self.detail.setText(f"Protocol done: {self.labels_written} labels written")

    def _write(self, segments) -> None:
        if self.capture is None:
            return
        for s in segments:
            self.capture.add_label(s.start, s.end, s.name)
            self.labels_written += 1

    def _show(self, st) -> None:
        phase = IDLE if st is None else st.phase
        if st is None:
            names = [g.strip() for g in self.gesture_edit.text().split(",") if g.strip()]
            text = "—"
            detail = (f"Press Start: prompts {', '.join(names)} ({self.reps.value()}× each) and labels them"
                      if names else "Type the gestures to prompt, comma separated, then press Start")
        elif phase == HOLD:
            text, detail = st.prompt.upper(), f"hold {st.remaining_s:0.1f} s   rep {st.rep}/{st.reps}"
        elif phase == REST:
            text = "REST"
            detail = f"{st.remaining_s:0.1f} s" + (f"   next: {st.prompt}" if st.prompt else "")
        elif phase == COUNTDOWN:
            text = f"{st.prompt.upper()} IN {st.remaining_s:0.0f}" if st.remaining_s >= 0.5 else st.prompt.upper()
            detail = ("redo: " if st.redo else "get ready: ") + f"{st.prompt} rep {st.rep}/{st.reps}"
        else:
            text, detail = "DONE", ""
        bg, fg = _PHASE_STYLE[phase]
        self.prompt.setText(text)
        self.prompt.setStyleSheet(f"QLabel#prompt {{ background: {bg}; color: {fg}; font-size: 28px;"
                                  f" font-weight: bold; border-radius: 8px; }}")
        self.detail.setText(detail)
        if st is not None and st.n_steps:
            self.progress.setRange(0, st.n_steps)
            self.progress.setValue(st.step if phase != COUNTDOWN else max(st.step - 1, 0))
            self.progress.setFormat(f"%v / %m repetitions")
        else:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("")
        self.redo_btn.setEnabled(self.protocol is not None)
        holding = st.prompt if st is not None and phase == HOLD else ""
        if holding != self._holding:
            self._holding = holding
            self.holding.emit(holding)
