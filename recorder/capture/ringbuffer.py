"""A preallocated, thread-safe ring buffer of timestamped multichannel samples.

Producers (acquisition threads) push chunks; consumers (the GUI timer, the live predictor) pull
copies of the most recent span. Memory is fixed at construction: the oldest samples are overwritten
(the overflow policy for display buffers; the session writer has its own queue and never drops).
"""

from __future__ import annotations

import threading

import numpy as np


class RingBuffer:
    """capacity: samples kept; n_channels: C. Stores t (capacity,) float64 seconds and x (capacity, C) float32."""

    def __init__(self, capacity: int, n_channels: int):
        if capacity <= 0 or n_channels <= 0:
            raise ValueError("capacity and n_channels must be positive")
        self.capacity = int(capacity)
        self.n_channels = int(n_channels)
        self._t = np.zeros(self.capacity, dtype=np.float64)
        self._x = np.zeros((self.capacity, self.n_channels), dtype=np.float32)
        self._total = 0  # samples ever pushed; write position = total % capacity
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """Samples pushed since creation (monotonic; consumers use it to see what is new)."""
        return self._total

    def __len__(self) -> int:
        return min(self._total, self.capacity)

    def push(self, t: np.ndarray, x: np.ndarray) -> None:
        """Append n samples: t (n,) seconds, x (n, C)."""
        n = len(t)
        if n == 0:
            return
        if x.shape != (n, self.n_channels):
            raise ValueError(f"expected x of shape ({n}, {self.n_channels}), got {x.shape}")
        if n > self.capacity:
            t, x, n = t[-self.capacity:], x[-self.capacity:], self.capacity
        with self._lock:
            start = self._total % self.capacity
            first = min(n, self.capacity - start)
            self._t[start:start + first] = t[:first]
            self._x[start:start + first] = x[:first]
            if first < n:
                self._t[: n - first] = t[first:]
                self._x[: n - first] = x[first:]
            self._total += n

    def last(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the newest n samples (fewer if fewer exist): t (m,), x (m, C)."""
        with self._lock:
            return self._tail(min(n, self._total, self.capacity))

    def latest(self, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        """Samples whose time is within ``seconds`` of the newest sample."""
        with self._lock:
            m = min(self._total, self.capacity)
            if m == 0:
                return self._tail(0)
            newest = self._t[(self._total - 1) % self.capacity]
            return self._tail(m - self._older_than(newest - seconds, "left"))

    def since(self, t0: float) -> tuple[np.ndarray, np.ndarray]:
        """Samples with time strictly after t0 (for consumers that track what they have seen)."""
        with self._lock:
            return self._tail(min(self._total, self.capacity) - self._older_than(t0, "right"))

    # Both below run under the lock; only the samples asked for are copied (a display frame reads
    # 5 s of a 30 s buffer: copying the whole ring first cost most of that read).
    def _older_than(self, t_cut: float, side: str) -> int:
        """How many stored samples come before t_cut (np.searchsorted over them, oldest first)."""
        m = min(self._total, self.capacity)
        end = self._total % self.capacity
        if m < self.capacity or end == 0:   # one run: [end - m, end) (or the whole ring, in order)
            start = (end - m) % self.capacity
            return int(np.searchsorted(self._t[start:start + m], t_cut, side=side))
        k = int(np.searchsorted(self._t[end:], t_cut, side=side))   # the older run, then the newer
        return k if k < self.capacity - end else k + int(np.searchsorted(self._t[:end], t_cut, side=side))

    def _tail(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the newest n (<= stored) samples, oldest first."""
        end = self._total % self.capacity
        start = (end - n) % self.capacity
        if n == 0:
            return self._t[:0].copy(), self._x[:0].copy()
        if start < end or end == 0:
            stop = start + n
            return self._t[start:stop].copy(), self._x[start:stop].copy()
        return (np.concatenate([self._t[start:], self._t[:end]]),
                np.concatenate([self._x[start:], self._x[:end]]))

    def clear(self) -> None:
        with self._lock:
            self._total = 0
