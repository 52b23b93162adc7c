"""The live prediction loop: one thread that runs a :class:`recorder.live.predictor.LivePredictor` on arriving
EMG, used by the app's live preview and ``emgrec lsl publish --model``.

Threads and data flow::

    acquisition thread --capture listener on_emg--> LiveRunner.push (copy into the predictor's ring,
                                                   note the chunk's arrival time, wake the loop)
    runner thread --wakes on new EMG, <= rate_hz--> LivePredictor.predict -> on_prediction(pred, arrival, t_ready)

It predicts when a chunk arrives (not on a free-running clock), so the EMG arrival -> prediction
latency stays near the inference time. A prediction that raises is counted, kept and reported,
and the loop goes on. This module does not import torch (the predictor does), so a GUI can import
it at start-up (a contract in pyproject.toml keeps it so).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

import numpy as np

from recorder.core.clock import now
from recorder.core.errors import UsageError
from recorder.core.types import CaptureListenerBase, EmgChunk

log = logging.getLogger(__name__)

#: on_prediction(pred, arrival, t_ready): a prediction, the host time (s) the chunk holding the
#: window's newest sample arrived (nan if unknown) and the host time it was ready. Runner's thread.
PredictionFn = Callable[[object, float, float], None]
#: on_error(exc, count): a prediction (or on_prediction) raised; count: errors so far. Runner's thread.
ErrorFn = Callable[[BaseException, int], None]


class LatencyWindow:
    """Values (latencies in seconds, or errors in mm) with their host time, kept for ``window_s``.
    Thread-safe: any thread adds, any thread reads."""

    def __init__(self, window_s: float = 5.0, maxlen: int = 4096):
        self.window_s = window_s
        self._d: deque[tuple[float, float]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def add(self, value_s: float, t: float | None = None) -> None:
        with self._lock:
            self._d.append((now() if t is None else t, value_s))

    def values(self) -> np.ndarray:
        cut = now() - self.window_s
        with self._lock:
            return np.array([v for t, v in self._d if t >= cut], np.float64)

    def rate(self) -> float:
        """Entries per second over the part of the window that has entries (0 with fewer than 2)."""
        cut = now() - self.window_s
        with self._lock:
            ts = [t for t, _ in self._d if t >= cut]
        return (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) >= 2 and ts[-1] > ts[0] else 0.0

    def stats(self, scale: float = 1e3, unit: str = "ms") -> dict:
        """{"n", "p50_ms", "p95_ms", "mean_ms", "max_ms"} over the last window_s ({"n": 0} if empty);
        values are multiplied by ``scale`` and keys end in ``unit`` (defaults: seconds -> ms)."""
        a = self.values() * scale
        if a.size == 0:
            return {"n": 0}
        return {"n": int(a.size), f"p50_{unit}": float(np.percentile(a, 50)),
                f"p95_{unit}": float(np.percentile(a, 95)), f"mean_{unit}": float(a.mean()),
                f"max_{unit}": float(a.max())}


class LiveRunner(CaptureListenerBase):
    """Runs ``predictor`` (a :class:`recorder.live.predictor.LivePredictor`, or anything with its ``push``,
    ``predict`` and ``latency_stats``) on its own thread: EMG chunks in (:meth:`push`, or the runner itself as a
    capture listener: :meth:`on_emg`), predictions out through ``on_prediction``, at most ``rate_hz`` a second.

    Deadlines advance by one period (not from "now"), so with chunks every 20 ms and rate_hz 30 the
    loop alternates 20/40 ms steps and averages 30 Hz; far behind, it restarts from now. Only a
    prediction made spends a deadline (not a call that found no full window yet), and a chunk that
    comes when the last prediction is a period old or more is predicted at once. A
    prediction that raises (a model failing on live data, or a failing ``on_prediction``) is
    counted (``errors``), kept (``last_error``), logged once per distinct message and passed to
    ``on_error``; the loop goes on. :meth:`stop` ends the thread at once (it waits on an event).

    ``latency``: EMG arrival -> prediction ready (s) over the last ``window_s``; :meth:`stats` gives
    it with the rate, the counts and the model's own inference time.
    """

    def __init__(self, predictor, rate_hz: float = 30.0, on_prediction: PredictionFn | None = None,
                 on_error: ErrorFn | None = None, window_s: float = 5.0, name: str = "live-predict"):
        if not rate_hz > 0:
            raise UsageError(f"rate_hz must be > 0, got {rate_hz}")
        self.predictor = predictor
        self.period = 1.0 / float(rate_hz)
        self.on_prediction = on_prediction
        self.on_error = on_error
        self.latency = LatencyWindow(window_s)
        self._times = LatencyWindow(window_s)  # when predictions were ready, for the rate
        self.predictions = 0
        self.errors = 0
        self.last_error = ""
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._arrivals: deque[tuple[float, float]] = deque(maxlen=256)  # (t of last sample, arrival)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # -- acquisition side --------------------------------------------------------------------------
    def push(self, chunk: EmgChunk) -> None:
        """Copy a chunk (x (n, C) raw units, t (n,) host s) into the predictor and wake the loop."""
        self.predictor.push(chunk)
        if len(chunk.t):
            with self._lock:
                self._arrivals.append((float(chunk.t[-1]), float(chunk.arrival)))
        self._wake.set()

    def on_emg(self, chunk: EmgChunk) -> None:
        """As a capture listener (``capture.add_listener(runner)``): each EMG chunk goes to
        :meth:`push`, on the reader thread; the other events are ignored (no-op defaults)."""
        self.push(chunk)

    def arrival_of(self, t_last: float) -> float:
        """Arrival time of the chunk whose last sample is at ``t_last`` (a window's newest); nan if gone."""
        with self._lock:
            for t, a in reversed(self._arrivals):
                if t == t_last:
                    return a
        return float("nan")

    # -- the thread --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> LiveRunner:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop and join the thread; True if it has ended."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        due = -1e9   # the next deadline: advances by one period per prediction made
        last = -1e9  # when the last prediction was made
        while True:
            self._wake.wait()
            if self._stopping.is_set():
                return
            self._wake.clear()
            t = now()
            if t < due - 0.002 and t - last < self.period:
                continue  # too soon: a later chunk triggers the next prediction
            try:
                pred = self.predictor.predict()
            except Exception as e:  # noqa: BLE001 - counted and reported; the loop keeps predicting
                pred = e
            if pred is None:
                # No full window yet (start, or after a gap): no deadline spent, so the chunk that
                # completes the window is predicted at once, not up to a period later.
                continue
            due = due + self.period if t - due < self.period else t + self.period
            last = t
            if isinstance(pred, Exception):  # a failing model still keeps to the rate
                self._failed(pred)
                continue
            try:
                t_ready = now()
                arrival = self.arrival_of(pred.t)
                if np.isfinite(arrival):
                    self.latency.add(t_ready - arrival, t_ready)
                self._times.add(0.0, t_ready)
                self.predictions += 1
                if self.on_prediction is not None:
                    self.on_prediction(pred, arrival, t_ready)
            except Exception as e:  # noqa: BLE001 - counted and reported; the loop keeps predicting
                self._failed(e)

    def _failed(self, e: Exception) -> None:
        self.errors += 1
        msg = f"{type(e).__name__}: {e}"
        if msg != self.last_error:
            log.warning("live prediction failed (%d so far)", self.errors, exc_info=e)
        self.last_error = msg
        if self.on_error is not None:
            try:
                self.on_error(e, self.errors)
            except Exception:  # noqa: BLE001 - a failing error listener must not end the loop
                log.exception("live prediction error listener failed")

    def stats(self) -> dict:
        """{"prediction": arrival -> ready (LatencyWindow.stats, ms), "inference": the model alone
        (LivePredictor.latency_stats, ms), "rate_hz", "predictions", "errors", "last_error"}."""
        return {"prediction": self.latency.stats(), "inference": self.predictor.latency_stats(),
                "rate_hz": self._times.rate(), "predictions": self.predictions, "errors": self.errors,
                "last_error": self.last_error}
