"""Hotkey labelling and the prompted protocol panel, against a fake capture (no devices)."""
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from app.capture.labeling import LabelController, LabelPanel, normalize_key
from app.capture.protocol_view import ProtocolView
from app.qt.settings import Gesture, Settings


class FakeCapture:
    """Records what the GUI asks of a Capture."""

    def __init__(self):
        self.calls, self.labels, self.markers = [], [], []
        self.recording = True

    def label_on(self, name, t):
        self.calls.append(("on", name, t))

    def label_off(self, name, t):
        self.calls.append(("off", name, t))

    def add_label(self, s, e, name):
        self.labels.append((s, e, name))

    def add_marker(self, text, t):
        self.markers.append((t, text))


@pytest.fixture
def panel(qtbot):
    w = QtWidgets.QWidget()
    lay = QtWidgets.QVBoxLayout(w)
    target = QtWidgets.QLabel("plot")
    target.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
    ctl = LabelController([Gesture("rest", "1"), Gesture("fist", "2"), Gesture("pinch", "P")], scope=w)
    p = LabelPanel(ctl)
    lay.addWidget(target)
    lay.addWidget(p)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    # Under a real X server a shown window is not necessarily the active one (keyboard focus).
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    cap = FakeCapture()
    ctl.set_capture(cap)
    yield ctl, p, target, cap
    ctl.dispose()


def _key(widget, key, release=False, autorep=False):
    t = QtCore.QEvent.Type.KeyRelease if release else QtCore.QEvent.Type.KeyPress
    ev = QtGui.QKeyEvent(t, key, QtCore.Qt.KeyboardModifier.NoModifier, "", autorep)
    QtWidgets.QApplication.sendEvent(widget, ev)


def test_hold_mode_press_release_and_autorepeat(panel, qtbot):
    ctl, p, target, cap = panel
    _key(target, QtCore.Qt.Key.Key_2)
    for _ in range(3):  # auto-repeat while the key is held: ignored
        _key(target, QtCore.Qt.Key.Key_2, autorep=True)
        _key(target, QtCore.Qt.Key.Key_2, release=True, autorep=True)
    assert ctl.active == ["fist"] and "fist" in p.active.text()
    _key(target, QtCore.Qt.Key.Key_2, release=True)
    qtbot.waitUntil(lambda: len(cap.calls) == 2, timeout=2000)   # the release is held back briefly
    assert [(c[0], c[1]) for c in cap.calls] == [("on", "fist"), ("off", "fist")]
    assert cap.calls[1][2] >= cap.calls[0][2]
    assert ctl.active == [] and p.active.text() == "no label"
    _key(target, QtCore.Qt.Key.Key_P)       # letter hotkeys work too
    _key(target, QtCore.Qt.Key.Key_P, release=True)
    _key(target, QtCore.Qt.Key.Key_9)       # not a hotkey: untouched
    qtbot.waitUntil(lambda: len(cap.calls) == 4, timeout=2000)
    assert [c[1] for c in cap.calls] == ["fist", "fist", "pinch", "pinch"]


def test_unflagged_x_autorepeat_pairs_are_one_label(panel, qtbot):
    """X auto-repeat arrives as release+press pairs that Qt often does not flag as repeats (seen
    under Xvfb; tests/app/test_x11.py drives the real thing): still one label, ending at the
    real release."""
    ctl, p, target, cap = panel
    _key(target, QtCore.Qt.Key.Key_2)
    for _ in range(5):
        qtbot.wait(20)
        _key(target, QtCore.Qt.Key.Key_2, release=True)
        _key(target, QtCore.Qt.Key.Key_2)
    from recorder.core.clock import now
    t_release = now()
    _key(target, QtCore.Qt.Key.Key_2, release=True)
    qtbot.waitUntil(lambda: len(cap.calls) == 2, timeout=2000)
    assert [(c[0], c[1]) for c in cap.calls] == [("on", "fist"), ("off", "fist")]
    assert cap.calls[1][2] == pytest.approx(t_release, abs=0.01)   # not when the hold-back ended


def test_keys_typed_into_text_fields_are_not_labels(panel, qtbot):
    ctl, p, target, cap = panel
    p.marker.setFocus()
    qtbot.waitUntil(p.marker.hasFocus)
    qtbot.keyClicks(p.marker, "12 ok")
    assert cap.calls == [] and p.marker.text() == "12 ok"
    qtbot.keyClick(p.marker, QtCore.Qt.Key.Key_Return)
    assert [m[1] for m in cap.markers] == ["12 ok"] and p.marker.text() == ""


def test_toggle_mode_and_release_all(panel, qtbot):
    ctl, p, target, cap = panel
    p.mode.setCurrentIndex(1)
    assert ctl.mode == "toggle"
    _key(target, QtCore.Qt.Key.Key_1)
    _key(target, QtCore.Qt.Key.Key_1, release=True)
    _key(target, QtCore.Qt.Key.Key_1)   # an X auto-repeat pair: no second toggle
    _key(target, QtCore.Qt.Key.Key_1, release=True)
    assert ctl.active == ["rest"]
    _key(target, QtCore.Qt.Key.Key_2)
    _key(target, QtCore.Qt.Key.Key_2, release=True)
    assert ctl.active == ["rest", "fist"]
    qtbot.wait(150)                      # a person's next press, well after the release
    _key(target, QtCore.Qt.Key.Key_1)
    assert ctl.active == ["fist"]
    ctl.release_all()
    assert ctl.active == [] and [c[0] for c in cap.calls] == ["on", "on", "off", "off"]


def test_editing_gestures_and_persisting(panel, tmp_path):
    ctl, p, target, cap = panel
    saved = []
    p.gestures_changed.connect(lambda g, m: saved.append((g, m)))
    p.table.item(1, 0).setText("grip")
    p.table.item(1, 1).setText("g")
    p.table.item(2, 1).setText("Ctrl+X, Y")        # two keys: rejected, cleared
    assert [(g.name, g.key) for g in ctl.gestures] == [("rest", "1"), ("grip", "G"), ("pinch", "")]
    _key(target, QtCore.Qt.Key.Key_G)
    assert ctl.active == ["grip"]
    s = Settings(tmp_path / "s.ini")
    s.set_gestures(saved[-1][0])
    s.set_label_mode("toggle")
    s2 = Settings(tmp_path / "s.ini")
    assert [(g.name, g.key) for g in s2.gestures()] == [("rest", "1"), ("grip", "G"), ("pinch", "")]
    assert s2.label_mode() == "toggle"
    assert normalize_key(" f ") == "F" and normalize_key("") == ""


def test_protocol_view_labels_and_redo(qtbot):
    cap = FakeCapture()
    v = ProtocolView(["fist", "open"], {"reps": 2, "hold_s": 0.5, "rest_s": 0.2, "countdown_s": 0.2})
    qtbot.addWidget(v)
    v.gesture_edit.setText("fist, open")
    v.set_capture(cap)
    held = []
    v.holding.connect(held.append)
    assert "fist, open" in v.detail.text()          # the whole list, however narrow the field
    v.start()
    assert v.running
    qtbot.waitUntil(lambda: "fist" in held, timeout=3000)     # the Labels panel is told what is held
    qtbot.waitUntil(lambda: v.protocol is not None and v.protocol._holds_done >= 1, timeout=3000)
    v.redo()                                 # the first fist is discarded and prompted again
    assert v.detail.text().startswith("redo: fist rep 1")
    with qtbot.waitSignal(v.running_changed, timeout=10000):
        pass
    assert not v.running
    holds = [(n, round(e - s, 2)) for s, e, n in cap.labels if n != "rest"]
    assert holds == [("fist", 0.5), ("fist", 0.5), ("open", 0.5), ("open", 0.5)]
    assert all(e > s for s, e, _ in cap.labels)
    assert v.labels_written == len(cap.labels)


def test_labels_panel_shows_the_protocol_label(panel):
    ctl, p, target, cap = panel
    p.set_protocol_label("fist")
    assert "fist (protocol)" in p.active.text()
    p.set_protocol_label("")
    assert p.active.text() == "no label"
