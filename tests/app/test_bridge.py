"""The capture bridge: typed capture events raised on a worker thread arrive as typed Qt signals on
the GUI thread (never on the worker), and the frequent events are only counted."""

import threading

import numpy as np
from PySide6 import QtCore

from app.qt.bridge import CaptureBridge
from recorder.core.clock import now
from recorder.core.types import CaptureListener, DeviceState, EmgChunk, Frame, Landmarks


class FakeCapture:
    def __init__(self):
        self.listeners = []

    def add_listener(self, listener):
        assert isinstance(listener, CaptureListener)
        self.listeners.append(listener)

    def remove_listener(self, listener):
        self.listeners.remove(listener)


def test_worker_thread_events_arrive_typed_on_the_gui_thread(qtbot):
    bridge = CaptureBridge()
    cap = FakeCapture()
    bridge.attach(cap)
    got, threads = [], set()

    def slot(name):
        def on(arg):
            got.append((name, arg))
            threads.add(threading.current_thread())
        return on

    bridge.error.connect(slot("error"))
    bridge.recording.connect(slot("recording"))
    bridge.device_state.connect(slot("device_state"))

    def worker():
        (listener,) = cap.listeners
        t = now()
        for i in range(3):
            listener.on_emg(EmgChunk(np.zeros((4, 8), np.int8), t + np.arange(4) / 200, 4 * i, t))
        frame = Frame(np.zeros((2, 2, 3), np.uint8), t, 0)
        listener.on_frame(frame)
        listener.on_landmarks(Landmarks.empty(t, 0))
        listener.on_device_state(DeviceState.RECONNECTING)
        listener.on_error("myo: link lost")
        listener.on_recording("paused")

    th = threading.Thread(target=worker)
    th.start()
    th.join()
    assert got == []  # nothing ran on the worker: the signals wait for the GUI thread's event loop
    qtbot.waitUntil(lambda: len(got) == 3, timeout=5000)
    assert got == [("device_state", DeviceState.RECONNECTING), ("error", "myo: link lost"),
                   ("recording", "paused")]
    assert got[0][1] is DeviceState.RECONNECTING
    assert threads == {threading.main_thread()}
    assert (bridge.count("emg"), bridge.count("frame"), bridge.count("landmarks")) == (3, 1, 1)
    bridge.detach()
    assert cap.listeners == []
    QtCore.QCoreApplication.processEvents()


def test_capture_view_banner_follows_typed_device_states(qtbot, tmp_path):
    from app.capture.view import CaptureView
    from app.qt.settings import Settings

    cv = CaptureView(Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(cv)
    cv.show()
    try:
        cv.bridge.device_state.emit(DeviceState.RECONNECTING)
        assert cv.banner.isVisible() and "reconnecting" in cv.banner.label.text()
        cv.bridge.device_state.emit(DeviceState.STREAMING)
        assert cv.banner.label.text() == "Armband reconnected."
        cv.bridge.recording.emit("stopped")  # only refreshes the controls
        assert cv.banner.label.text() == "Armband reconnected."
    finally:
        cv.shutdown()
