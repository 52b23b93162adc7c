"""Qt signal bridge for :class:`recorder.capture.Capture` listeners.

Capture calls listeners on its worker threads; widgets must only be touched on the GUI thread. The
bridge turns the rare events (errors, state changes) into queued Qt signals and only *counts* the
frequent ones (EMG chunks, frames, landmarks) so their rates can be shown; the data itself is pulled
by the display timer from the capture's buffers (one signal per chunk would flood the event loop).
"""

from __future__ import annotations

import threading
from collections import deque

from PySide6 import QtCore

from recorder.clock import now


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
    TYPE = QtCore.QEvent.Type(QtCore.QEvent.registerEventType())

    def __init__(self, kind: str, text: str):
        super().__init__(self.TYPE)
        self.kind, self.text = kind, text


class CaptureBridge(QtCore.QObject):
    """Attach with ``bridge.attach(capture)`` (and ``detach()`` before the capture is dropped).

    Signals (always delivered on the bridge's thread, the GUI thread):
        error(str): a device, camera or writer error message.
        state(str): "recording", "paused", "stopped", "emg:<device state>".
    """

    error = QtCore.Signal(str)
    state = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._rates = {"emg": _Rate(), "frame": _Rate(), "landmarks": _Rate()}
        self._capture = None

    def attach(self, capture) -> None:
        self.detach()
        self._capture = capture
        capture.add_listener(self._on_event)

    def detach(self) -> None:
        if self._capture is not None:
            self._capture.remove_listener(self._on_event)
            self._capture = None

    def _on_event(self, kind: str, payload) -> None:
        # Runs on capture worker threads: count, or re-emit as a (queued) signal; never touch widgets.
        if kind in self._rates:
            with self._lock:
                self._rates[kind].add(now())
        elif kind in ("error", "state"):
            # Posted to the GUI thread, where event() emits the signal: slots never run on a worker.
            QtCore.QCoreApplication.postEvent(self, _BridgeEvent(kind, str(payload)))

    def event(self, ev) -> bool:
        if isinstance(ev, _BridgeEvent):
            (self.error if ev.kind == "error" else self.state).emit(ev.text)
            return True
        return super().event(ev)

    def rate(self, kind: str) -> float:
        """Events per second of ``kind`` ("emg" chunks, "frame", "landmarks") over the last 2 s."""
        with self._lock:
            return self._rates[kind].rate(now())

    def count(self, kind: str) -> int:
        with self._lock:
            return self._rates[kind].count
