"""Under a real X server (Xvfb in `.ci/run`): keys typed by xdotool, with X key auto-repeat on.

Offscreen Qt never auto-repeats, so these only run with ``QT_QPA_PLATFORM=xcb`` and a display; they
skip with the reason otherwise. Run: ``QT_QPA_PLATFORM=xcb xvfb-run -a python -m pytest tests/app/test_x11.py``.
"""
import os
import shutil
import subprocess
import time

import pytest
from PySide6 import QtCore, QtWidgets

from app.qt import syslibs
from app.capture.labeling import LabelController, LabelPanel
from app.qt.settings import Gesture

pytestmark = pytest.mark.skipif(
    os.environ.get("QT_QPA_PLATFORM", "") != "xcb" or not os.environ.get("DISPLAY")
    or not shutil.which("xdotool") or not shutil.which("xset"),
    reason="needs QT_QPA_PLATFORM=xcb, an X display (xvfb-run) and xdotool/xset")


class FakeCapture:
    def __init__(self):
        self.calls = []

    def label_on(self, name, t):
        self.calls.append(("on", name, t))

    def label_off(self, name, t):
        self.calls.append(("off", name, t))


def _segments(calls):
    segs, start = [], {}
    for kind, name, t in calls:
        if kind == "on":
            start[name] = t
        else:
            segs.append((name, t - start.pop(name)))
    return segs


@pytest.fixture
def window(qtbot):
    subprocess.run(["xset", "r", "on"], check=True)   # the desktop default: auto-repeat on
    subprocess.run(["xset", "r", "rate", "250", "30"], check=True)
    w = QtWidgets.QWidget()
    w.setWindowTitle("emgrec x11 test")
    lay = QtWidgets.QVBoxLayout(w)
    target = QtWidgets.QLabel("plot")
    target.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
    lay.addWidget(target)
    ctl = LabelController([Gesture("fist", "F"), Gesture("point", "P")], scope=w)
    lay.addWidget(LabelPanel(ctl))
    qtbot.addWidget(w)
    w.resize(400, 300)
    w.show()
    qtbot.waitExposed(w)
    target.setFocus()
    cap = FakeCapture()
    ctl.set_capture(cap)
    subprocess.run(["xdotool", "windowfocus", "--sync", str(int(w.winId()))], check=True, timeout=10)
    qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() is target, timeout=5000)
    yield w, ctl, cap
    ctl.dispose()


def _hold(qtbot, keys_and_seconds):
    script = "; ".join(f"xdotool keydown {k}; sleep {s}; xdotool keyup {k}; sleep 0.3"
                       for k, s in keys_and_seconds)
    proc = subprocess.Popen(["sh", "-c", script])
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=int(1000 * (sum(s for _, s in keys_and_seconds)
                                                                         + 10)))
    qtbot.wait(300)


def test_held_key_with_autorepeat_is_one_label_per_hold(window, qtbot):
    w, ctl, cap = window
    _hold(qtbot, [("f", 3), ("p", 1)])
    segs = _segments(cap.calls)
    assert [s[0] for s in segs] == ["fist", "point"], segs
    assert segs[0][1] == pytest.approx(3.0, abs=0.3) and segs[1][1] == pytest.approx(1.0, abs=0.3)
    assert ctl.active == []


def test_held_key_on_a_busy_gui_thread(window, qtbot):
    """The GUI thread blocked 40 ms out of every 50 (plots on a loaded machine): still one label."""
    w, ctl, cap = window
    busy = QtCore.QTimer(interval=10)
    busy.timeout.connect(lambda: time.sleep(0.04))
    busy.start()
    try:
        _hold(qtbot, [("f", 3)])
    finally:
        busy.stop()
    segs = _segments(cap.calls)
    assert [s[0] for s in segs] == ["fist"], segs
    assert segs[0][1] == pytest.approx(3.0, abs=0.3)


def test_no_xcb_library_missing():
    """On CI the packages the README lists are installed: the start-up check finds nothing."""
    assert syslibs.missing_xcb_libraries() == []
    assert syslibs.check() == ""
