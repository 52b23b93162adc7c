"""Gesture labelling with hotkeys: hold a key (press = label on, release = label off) or toggle.

:class:`LabelController` is an application event filter that maps key presses to
``capture.label_on/label_off`` (ignoring auto-repeat and keys typed into text fields);
:class:`LabelPanel` edits the gesture list and hotkeys, shows the active label, and adds free-text
markers.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from recorder.core.clock import now

from app.qt.settings import Gesture

# How long a key release is held back waiting for the press of an X auto-repeat pair (both carry
# the same server time; a person cannot release and press one key again this fast).
REPEAT_WINDOW_S = 0.06

# Widgets that take typed text: keys pressed there are text, not labels.
_TEXT_INPUTS = (QtWidgets.QLineEdit, QtWidgets.QTextEdit, QtWidgets.QPlainTextEdit,
                QtWidgets.QAbstractSpinBox, QtWidgets.QKeySequenceEdit)


def normalize_key(text: str) -> str:
    """Canonical single-key sequence string ("f" -> "F"); "" if ``text`` is not exactly one key."""
    seq = QtGui.QKeySequence(text.strip())
    if seq.count() != 1:
        return ""
    return seq.toString(QtGui.QKeySequence.SequenceFormat.PortableText)


def _event_key(ev: QtGui.QKeyEvent) -> str:
    mods = ev.modifiers() & ~QtCore.Qt.KeyboardModifier.KeypadModifier
    combo = QtCore.QKeyCombination(mods, QtCore.Qt.Key(ev.key()))
    return QtGui.QKeySequence(combo).toString(QtGui.QKeySequence.SequenceFormat.PortableText)


class LabelController(QtCore.QObject):
    """Turns hotkeys into label segments on the current capture.

    mode: "hold" or "toggle". ``scope``: the top-level window whose keys count (others are ignored).
    Signals: active_changed(list[str]) with the labels now on; marker_added(str).
    """

    active_changed = QtCore.Signal(list)
    marker_added = QtCore.Signal(str)

    def __init__(self, gestures: list[Gesture], mode: str = "hold", scope: QtWidgets.QWidget | None = None,
                 parent=None):
        super().__init__(parent)
        self.capture = None
        self.scope = scope
        self.enabled = True
        self.mode = mode
        self._by_key: dict[str, str] = {}
        self._held: dict[int, str] = {}   # Qt key code -> label name (hold mode)
        self._active: list[str] = []
        self.set_gestures(gestures)
        app = QtWidgets.QApplication.instance()
        # Key releases held back to tell an X auto-repeat pair from a real release: key -> time.
        self._pending: dict[int, float] = {}
        self._rearmed = False
        self._pending_timer = QtCore.QTimer(self, singleShot=True, interval=int(REPEAT_WINDOW_S * 1000))
        self._pending_timer.timeout.connect(self._flush_pending)
        # Application state arrives as an event, not applicationStateChanged: PySide6 6.11 cannot
        # convert that signal's enum argument for a Python slot (a TypeError under a real X server).
        app.installEventFilter(self)

    def dispose(self) -> None:
        """Close open labels and remove the event filter (call before the window goes away)."""
        self.release_all()
        app = QtWidgets.QApplication.instance()
        app.removeEventFilter(self)

    def set_gestures(self, gestures: list[Gesture]) -> None:
        self.gestures = [Gesture(g.name, normalize_key(g.key)) for g in gestures if g.name.strip()]
        self._by_key = {g.key: g.name for g in self.gestures if g.key}

    def set_capture(self, capture) -> None:
        self.release_all()
        self.capture = capture

    @property
    def active(self) -> list[str]:
        return list(self._active)

    # -- label actions -------------------------------------------------------------------------
    def press(self, name: str) -> None:
        """Label ``name`` on (hold mode) or flip it (toggle mode)."""
        if self.mode == "toggle" and name in self._active:
            self._off(name)
        elif name not in self._active:
            self._active.append(name)
            if self.capture is not None:
                self.capture.label_on(name, now())
            self.active_changed.emit(self.active)

    def release(self, name: str, t: float | None = None) -> None:
        """Label ``name`` off at host time ``t`` (default now), in hold mode."""
        if self.mode == "hold":
            self._off(name, t)

    def _off(self, name: str, t: float | None = None) -> None:
        if name in self._active:
            self._active.remove(name)
            if self.capture is not None:
                self.capture.label_off(name, now() if t is None else t)
            self.active_changed.emit(self.active)

    def release_all(self) -> None:
        self._flush_pending(force=True)
        self._held.clear()
        for name in list(self._active):
            self._off(name)

    def add_marker(self, text: str) -> bool:
        text = text.strip()
        if not text or self.capture is None:
            return False
        self.capture.add_marker(text, now())
        self.marker_added.emit(text)
        return True

    # -- keys ---------------------------------------------------------------------------------------
    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt naming)
        t = ev.type()
        if t == QtCore.QEvent.Type.ApplicationStateChange:
            self._on_app_state(QtGui.QGuiApplication.applicationState())
            return False
        if t not in (QtCore.QEvent.Type.KeyPress, QtCore.QEvent.Type.KeyRelease):
            return False
        # Key events reach the QWindow first and then each widget; judge them once, at a widget.
        if not self.enabled or not isinstance(obj, QtWidgets.QWidget):
            return False
        if self.scope is not None and obj.window() is not self.scope.window():
            return False
        key = ev.key()
        if t == QtCore.QEvent.Type.KeyRelease:
            if key not in self._held or key in self._pending:
                return key in self._held
            if not ev.isAutoRepeat():
                # X sends auto-repeat as release+press pairs, and Qt's xcb plugin flags them as
                # repeats only when it sees both at once: under load most pairs arrive as a real
                # release and a real press. Hold the release back briefly; a press of the same key
                # within that window is the repeat, and cancels it. The label still ends at the
                # release's time.
                self._pending[key] = now()
                if not self._pending_timer.isActive():
                    self._pending_timer.start()
            return True
        if key in self._pending:      # the press half of an X auto-repeat pair
            del self._pending[key]
            return True
        focus = QtWidgets.QApplication.focusWidget()
        if isinstance(focus, _TEXT_INPUTS) or isinstance(obj, _TEXT_INPUTS):
            return False
        name = self._by_key.get(_event_key(ev))
        if name is None:
            return False
        if not ev.isAutoRepeat() and key not in self._held:
            self._held[key] = name
            self.press(name)
        return True

    def _flush_pending(self, force: bool = False) -> None:
        """Finish the releases no press followed within :data:`REPEAT_WINDOW_S`."""
        t = now()
        late = t - min(self._pending.values(), default=t) > 3 * REPEAT_WINDOW_S
        if late and not force and not self._rearmed:
            # The GUI thread was stalled: input queued meanwhile may hold the repeat's press.
            # Let the event loop deliver it before deciding.
            self._rearmed = True
            self._pending_timer.start()
            return
        self._rearmed = False
        for key, t_rel in list(self._pending.items()):
            if force or t - t_rel >= REPEAT_WINDOW_S * 0.9 or late:
                del self._pending[key]
                name = self._held.pop(key, None)
                if name is not None:
                    self.release(name, t_rel)
        if self._pending:
            self._pending_timer.start()

    def _on_app_state(self, state) -> None:
        # A release that happens in another application never reaches us: end held labels here.
        if state != QtCore.Qt.ApplicationState.ApplicationActive and self.mode == "hold":
            self.release_all()


class LabelPanel(QtWidgets.QGroupBox):
    """Gesture list with editable names and hotkeys, hold/toggle mode, active label, marker box.

    Signal gestures_changed(list[Gesture], str mode) when the user edits them (to persist).
    """

    gestures_changed = QtCore.Signal(list, str)

    def __init__(self, controller: LabelController, parent=None):
        super().__init__("Labels", parent)
        self.controller = controller
        self.table = QtWidgets.QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Gesture", "Key"])
        self.table.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        self.table.setToolTip("Double-click to edit a name or a key. Hold the key while making the gesture.")
        self.table.itemChanged.connect(self._on_edited)
        self.table.cellDoubleClicked.connect(self._on_double_click)

        add = QtWidgets.QToolButton(text="+", toolTip="Add a gesture")
        rem = QtWidgets.QToolButton(text="−", toolTip="Remove the selected gesture")
        add.clicked.connect(self._add_row)
        rem.clicked.connect(self._remove_row)
        self.mode = QtWidgets.QComboBox()
        self.mode.addItem("Hold key", "hold")
        self.mode.addItem("Toggle", "toggle")
        self.mode.setCurrentIndex(0 if controller.mode == "hold" else 1)
        self.mode.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        self.mode.currentIndexChanged.connect(self._on_mode)

        self.active = QtWidgets.QLabel()
        self.active.setObjectName("activeLabel")
        self.active.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.active.setMinimumHeight(34)
        self.marker = QtWidgets.QLineEdit(placeholderText="Marker text, Enter to add")
        self.marker.returnPressed.connect(self._add_marker)

        row = QtWidgets.QHBoxLayout()
        row.addWidget(add)
        row.addWidget(rem)
        row.addStretch(1)
        row.addWidget(QtWidgets.QLabel("Mode"))
        row.addWidget(self.mode)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.active)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        lay.addWidget(self.marker)
        self._fill()
        self._protocol = ""   # the prompted protocol's gesture being held (it writes that label)
        controller.active_changed.connect(self._show_active)
        self._show_active([])

    def set_protocol_label(self, name: str) -> None:
        """Show the label the prompted protocol is writing now ("" when none)."""
        self._protocol = name
        self._show_active(self.controller.active)

    def _fill(self) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        for g in self.controller.gestures:
            r = self.table.rowCount()
            self.table.insertRow(r)
            self.table.setItem(r, 0, QtWidgets.QTableWidgetItem(g.name))
            k = QtWidgets.QTableWidgetItem(g.key)
            k.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            self.table.setItem(r, 1, k)
        self.table.blockSignals(False)

    def gestures(self) -> list[Gesture]:
        out = []
        for r in range(self.table.rowCount()):
            name = (self.table.item(r, 0).text() if self.table.item(r, 0) else "").strip()
            key = self.table.item(r, 1).text() if self.table.item(r, 1) else ""
            if name:
                out.append(Gesture(name, key))
        return out

    def _on_edited(self, item: QtWidgets.QTableWidgetItem) -> None:
        if item.column() == 1 and item.text() and not normalize_key(item.text()):
            self.table.blockSignals(True)
            item.setText("")  # not a single key: clear rather than keep something that never fires
            self.table.blockSignals(False)
        self._commit()

    def _on_double_click(self, row: int, col: int) -> None:
        if col == 0 and self.controller.mode == "toggle":
            name = self.table.item(row, 0).text()
            self.controller.press(name)

    def _commit(self) -> None:
        self.controller.set_gestures(self.gestures())
        self._fill()
        self.gestures_changed.emit(self.controller.gestures, self.controller.mode)

    def _add_row(self) -> None:
        names = {g.name for g in self.controller.gestures}
        n = 1
        while f"gesture{n}" in names:
            n += 1
        self.controller.set_gestures(self.controller.gestures + [Gesture(f"gesture{n}", "")])
        self._fill()
        self.gestures_changed.emit(self.controller.gestures, self.controller.mode)

    def _remove_row(self) -> None:
        r = self.table.currentRow()
        if r >= 0:
            self.table.removeRow(r)
            self._commit()

    def _on_mode(self) -> None:
        self.controller.release_all()
        self.controller.mode = self.mode.currentData()
        self.gestures_changed.emit(self.controller.gestures, self.controller.mode)

    def _add_marker(self) -> None:
        if self.controller.add_marker(self.marker.text()):
            self.marker.clear()

    def _show_active(self, names: list) -> None:
        names = list(names) + ([f"{self._protocol} (protocol)"] if self._protocol else [])
        if names:
            self.active.setText("  ".join(names))
            self.active.setStyleSheet("QLabel#activeLabel { background: #1b4332; color: #b7e4c7;"
                                      " font-size: 16px; font-weight: bold; border-radius: 6px; }")
        else:
            self.active.setText("no label")
            self.active.setStyleSheet("QLabel#activeLabel { background: #22282e; color: #6c757d;"
                                      " font-size: 14px; border-radius: 6px; }")
