"""A device sink + status callback that driver tests can wait on (a Condition, no sleep-polling)."""

from __future__ import annotations

import threading

import numpy as np

from recorder.core.types import DeviceState


class Collector:
    """Pass the collector itself (or ``.sink``) as the driver's sink and ``.on_status`` as its status
    callback. ``chunks`` are the EmgChunks in arrival order, ``n`` their total samples, ``states``
    the DeviceStates seen (consecutive repeats folded)."""

    def __init__(self):
        self.chunks = []
        self.states: list[DeviceState] = []
        self.n = 0
        self.cond = threading.Condition()

    def sink(self, chunk) -> None:
        with self.cond:
            self.chunks.append(chunk)
            self.n += len(chunk)
            self.cond.notify_all()

    __call__ = sink

    def on_status(self, st) -> None:
        with self.cond:
            if not self.states or self.states[-1] != st.state:
                self.states.append(st.state)
            self.cond.notify_all()

    def wait_for(self, pred, timeout: float) -> bool:
        """True once ``pred()`` holds (checked under the lock at every chunk/status), False after timeout s."""
        with self.cond:
            return self.cond.wait_for(pred, timeout)

    def wait(self, pred, timeout: float, what: str) -> None:
        """Like :meth:`wait_for`, but a timeout fails the test naming ``what`` and the states seen."""
        assert self.wait_for(pred, timeout), (f"timed out after {timeout} s waiting for {what}; "
                                              f"{self.n} samples, states {self.states}")

    def wait_total(self, n: int, timeout: float = 10.0) -> None:
        """Wait until ``n`` samples have arrived in total since the start."""
        self.wait(lambda: self.n >= n, timeout, f"{n} samples in total")

    def wait_more(self, n: int, timeout: float = 10.0) -> None:
        """Wait until ``n`` more samples than now have arrived."""
        target = self.n + n
        self.wait(lambda: self.n >= target, timeout, f"{n} more samples (to {target})")

    def arrays(self, chunks=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(stream indices (N,), samples (N, C), host times (N,) in s) of ``chunks`` (default: all)."""
        chunks = self.chunks if chunks is None else chunks
        idx = np.concatenate([np.arange(c.first_index, c.first_index + len(c)) for c in chunks])
        return idx, np.concatenate([c.x for c in chunks]), np.concatenate([c.t for c in chunks])
