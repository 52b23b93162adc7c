"""Qt signal bridge for :class:`recorder.capture.engine.Capture` listeners.

Capture calls listeners on its worker threads; widgets must only be touched on the GUI thread. The
bridge's listener turns the rare events (errors, recording and device state changes) into queued Qt
signals and only *counts* the frequent ones (EMG chunks, frames, landmarks) so their rates can be
shown; the data itself is pulled by the display timer from the capture's buffers (one signal per chunk would flood the event loop).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable

from PySide6 import QtCore

from recorder.core.clock import now
from recorder.core.types import CaptureListenerBase, DeviceState, EmgChunk, Frame, Landmarks, RecordingState


class _Rate:
    """Events per second over a sliding window, fed from any thread."""

    def __init__(self, window_s: float = 2.0):
        self.window_s = window_s
        self._t: deque[float] = deque()
        self.count = 0

    def add(self, t: float) -> None:
        self._t.append(t)
        self.count += 1
        while t - self._t[0] > self.window_s:
            self._t.popleft()

    def rate(self, t: float) -> float:
        if len(self._t) < 2 or t - self._t[-1] > self.window_s:
            return 0.0
        span = self._t[-1] - self._t[0]
        return (len(self._t) - 1) / span if span > 0 else 0.0


class _BridgeEvent(QtCore.QEvent):
    """Carries ``deliver(bridge)`` (which emits one signal) from a worker thread to the GUI thread."""

    TYPE = QtCore.QEvent.Type(QtCore.QEvent.registerEventType())

    def __init__(self, deliver: Callable[["CaptureBridge"], None]):
        super().__init__(self.TYPE)
        self.deliver = deliver


class _Relay(CaptureListenerBase):
    """The bridge's capture listener. Runs on capture worker threads: counts the frequent events,
    posts the rare ones to the bridge's thread; never touches a widget or emits a signal itself."""

    def __init__(self, bridge: "CaptureBridge"):
        self.bridge = bridge

    def on_emg(self, chunk: EmgChunk) -> None:
        self.bridge._count("emg")

    def on_frame(self, frame: Frame) -> None:
        self.bridge._count("frame")

    def on_landmarks(self, lm: Landmarks) -> None:
        self.bridge._count("landmarks")

    def on_error(self, message: str) -> None:
        self._post(lambda b: b.error.emit(str(message)))

    def on_recording(self, state: RecordingState) -> None:
        self._post(lambda b: b.recording.emit(str(state)))

    def on_device_state(self, state: DeviceState) -> None:
        self._post(lambda b: b.device_state.emit(state))

    def _post(self, deliver) -> None:
        # Posted to the GUI thread, where event() emits the signal: slots never run on a worker.
        QtCore.QCoreApplication.postEvent(self.bridge, _BridgeEvent(deliver))


class CaptureBridge(QtCore.QObject):
    """Attach with ``bridge.attach(capture)`` (and ``detach()`` before the capture is dropped).

    Signals (always delivered on the bridge's thread, the GUI thread), one per rare capture event
    (see :class:`recorder.capture.engine.CaptureListener`):
        error(str): a device, camera or writer error message.
        recording(str): the recording's state after a change: "recording", "paused" or "stopped".
        device_state(DeviceState): the EMG source's new state.
    EMG chunks, frames and landmarks are only counted: :meth:`rate` and :meth:`count`.
    """

    error = QtCore.Signal(str)
    recording = QtCore.Signal(str)
    device_state = QtCore.Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._rates = {"emg": _Rate(), "frame": _Rate(), "landmarks": _Rate()}
        self._capture = None
        self._relay = _Relay(self)

    def attach(self, capture) -> None:
        self.detach()
        self._capture = capture
        capture.add_listener(self._relay)

    def detach(self) -> None:
        if self._capture is not None:
            self._capture.remove_listener(self._relay)
            self._capture = None

    def _count(self, stream: str) -> None:
        with self._lock:
            self._rates[stream].add(now())

    def event(self, ev) -> bool:
        if isinstance(ev, _BridgeEvent):
            ev.deliver(self)
            return True
        return super().event(ev)

    def rate(self, kind: str) -> float:
        """Events per second of ``kind`` ("emg" chunks, "frame", "landmarks") over the last 2 s."""
        with self._lock:
            return self._rates[kind].rate(now())

    def count(self, kind: str) -> int:
        with self._lock:
            return self._rates[kind].count
