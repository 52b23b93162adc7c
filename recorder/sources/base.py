"""Base classes for EMG sources: one reader thread per device, explicit states, cooperative stop.

A driver turns bytes into :class:`~recorder.core.types.EmgChunk` and hands them to a sink callback on
its own thread; it knows nothing about files or widgets. Sinks must be cheap (append to a queue or
ring buffer): they run on the acquisition thread.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from dataclasses import replace
from typing import Callable

import numpy as np

from recorder.core.clock import SampleClock, now
from recorder.core.errors import EmgrecError
from recorder.core.types import DeviceState, DeviceStatus, EmgChunk
from recorder.core.worker import WorkerThreadOwner, run_reporting_errors

log = logging.getLogger(__name__)

Sink = Callable[[EmgChunk], None]
StatusCallback = Callable[[DeviceStatus], None]


class DeviceError(EmgrecError, RuntimeError):
    """A device failed in a way the user must hear about (bad port, wrong device, protocol error)."""


class SourceConfigError(EmgrecError, ValueError):
    """A bad EMG source spec or option (unknown kind or board, missing port, bad option value)."""


class DeviceNotFound(DeviceError):
    """The port does not exist or no device answered on it."""


class DeviceLost(DeviceError):
    """The device vanished mid-stream (unplugged, port closed); the driver will try to reconnect."""


class EmgSource(WorkerThreadOwner, abc.ABC):
    """An EMG device or stream. Subclasses implement :meth:`_run` and set the attributes below.

    Attributes (set by subclasses before :meth:`start`):
        kind: short name ("myo", "cyton", "synthetic", "replay", ...).
        sample_rate_hz: nominal rate.
        channel_names: list of C names.
        units: raw unit name ("counts").
        scale_to_uV: multiply raw values by this for microvolts (NaN when not meaningful,
            e.g. the Myo's unitless int8).
        dtype: numpy dtype of the raw samples.
    """

    kind: str = "base"
    sample_rate_hz: float = 200.0
    channel_names: list[str] = []
    units: str = "counts"
    scale_to_uV: float = float("nan")
    dtype = np.int16

    def __init__(self) -> None:
        super().__init__()  # _stop, _thread
        self._status = DeviceStatus()
        self._status_lock = threading.Lock()
        self._sink: Sink | None = None
        self._on_status: StatusCallback | None = None
        self.clock = SampleClock(self.sample_rate_hz)
        self._next_index = 0
        self._last_stamp = float("-inf")
        self._rate_window: list[tuple[float, int]] = []

    # -- public API -------------------------------------------------------------------------
    @property
    def n_channels(self) -> int:
        return len(self.channel_names)

    def describe(self) -> dict:
        """JSON-able description saved in the session's ``device`` attribute."""
        return {"kind": self.kind, "sample_rate_hz": self.sample_rate_hz,
                "channel_names": list(self.channel_names), "units": self.units,
                "scale_to_uV": self.scale_to_uV, **self._status.info}

    def start(self, sink: Sink, on_status: StatusCallback | None = None) -> None:
        """Start streaming on a new thread; chunks go to ``sink`` (called on that thread)."""
        self._refuse_second_start(f"{self.kind} source")
        self._sink, self._on_status = sink, on_status
        self._start_thread(self._thread_main, f"emg-{self.kind}")

    def stop(self, timeout: float = 3.0) -> None:
        """Ask the reader thread to finish and wait for it. Safe to call twice."""
        self._stop_thread(timeout)

    def status(self) -> DeviceStatus:
        with self._status_lock:
            return replace(self._status, info=dict(self._status.info))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.close()

    def close(self) -> None:
        """Release resources that outlive the thread (emulators, files). Default: nothing."""

    # -- for subclasses ---------------------------------------------------------------------
    @abc.abstractmethod
    def _run(self) -> None:
        """Acquire until ``self._stop`` is set. Raise DeviceError for fatal problems."""

    def _thread_main(self) -> None:
        try:
            run_reporting_errors(self._run, DeviceError, self._set_state, log, self.kind,
                                 bug_label=f"{self.kind} reader")
        finally:
            self._finish()

    def _finish(self) -> None:
        """Runs on the reader thread after _run, even after an error. Override to close ports."""

    def _update_status(self, **fields) -> None:
        with self._status_lock:
            for k, v in fields.items():
                setattr(self._status, k, v)
            snap = replace(self._status, info=dict(self._status.info))
        if self._on_status is not None:
            self._on_status(snap)

    def _set_state(self, state: DeviceState, error: str = "") -> None:
        fields = {"state": state}
        if error:
            fields["last_error"] = error
        if state == DeviceState.RECONNECTING:
            with self._status_lock:
                fields["reconnects"] = self._status.reconnects + 1
        self._update_status(**fields)

    def _count_bad_packet(self, n: int = 1) -> None:
        with self._status_lock:
            self._status.bad_packets += n

    def _emit(self, x: np.ndarray, arrival: float, first_index: int | None = None,
              t: np.ndarray | None = None) -> EmgChunk:
        """Stamp (n, C) samples with the fitted clock and pass them to the sink.

        first_index: the device-continuous index of x[0] when the device has a counter; None to
        continue from the previous chunk. A jump forward is a gap: counted as lost samples.
        t: (n,) host seconds when the source already knows them (e.g. an LSL stream's own
        timestamps, mapped to the host clock); None to stamp with the fitted clock.
        """
        n = int(x.shape[0])
        if first_index is None:
            first_index = self._next_index
        lost = first_index - self._next_index if self._status.samples_received else 0
        if t is None:
            t = self.clock.stamp(first_index, n, arrival)
        if n and t[0] <= self._last_stamp:
            # The fit's intercept moved earlier (a less delayed read than any before) by more than
            # the gap to the previous chunk: times must still increase (a file's /emg/t never steps
            # back), so these samples take the earliest times after the last one.
            t = np.maximum(t, self._last_stamp + 1e-6 * np.arange(1, n + 1))
        if n:
            self._last_stamp = float(t[-1])
        chunk = EmgChunk(x=x, t=t, first_index=first_index, arrival=arrival)
        self._next_index = first_index + n
        with self._status_lock:
            st = self._status
            st.samples_received += n
            if lost > 0:
                st.samples_lost += lost
            st.measured_rate_hz = self._measure_rate(arrival, st.samples_received)
        if self._sink is not None:
            self._sink(chunk)
        return chunk

    def _measure_rate(self, arrival: float, total: int) -> float:
        w = self._rate_window
        w.append((arrival, total))
        while len(w) > 2 and arrival - w[0][0] > 2.0:
            w.pop(0)
        if len(w) < 2 or w[-1][0] - w[0][0] < 0.2:
            return self._status.measured_rate_hz
        return (w[-1][1] - w[0][1]) / (w[-1][0] - w[0][0])

    def _sleep(self, seconds: float) -> bool:
        """Wait, waking early on stop; returns True if stop was requested."""
        return self._stop.wait(seconds)


class SerialEmgSource(EmgSource):
    """A pyserial device with automatic reconnect: open, handshake, stream; on any error, retry.

    Subclasses implement :meth:`_open` (returns a ``serial.Serial``), :meth:`_handshake`
    (configures the device and starts streaming) and :meth:`_read_some` (reads what is there,
    parses it, calls :meth:`_emit`). A silence longer than ``lost_after_s`` counts as lost.

    Only the first connection may fail for good (wrong port, wrong device: the user must hear it
    at once). Once the source has streamed, every error (the port gone or back late, a handshake
    timeout, a wrong answer) is retried with a backoff from ``reconnect_interval_s`` doubling up to
    ``reconnect_max_s``, until :meth:`stop`. A source that stays connected but delivers no usable
    sample for ``stall_after_s`` (notifications on unknown handles, a repeated sample number,
    garbage) is *stalled*: counted in ``DeviceStatus.stalls`` and reconnected; the data that
    follows is placed by the clock, so the stall is a recorded gap.
    """

    reconnect_interval_s = 0.25
    reconnect_max_s = 2.0
    lost_after_s = 1.0
    stall_after_s = 1.0

    def __init__(self, port: str, reconnect: bool = True):
        super().__init__()
        self.port = port
        self.reconnect = reconnect
        self._ser = None
        self._last_usable = 0.0

    @abc.abstractmethod
    def _open(self):
        ...

    @abc.abstractmethod
    def _handshake(self) -> None:
        ...

    @abc.abstractmethod
    def _read_some(self) -> None:
        ...

    def _shutdown_device(self) -> None:
        """Best-effort stop command to the device before the port closes."""

    def _close_port(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except OSError:
                pass

    def _emit(self, x: np.ndarray, arrival: float, first_index: int | None = None,
              t: np.ndarray | None = None) -> EmgChunk:
        self._last_usable = arrival
        return super()._emit(x, arrival, first_index, t)

    def _last_byte_time(self) -> float:
        """Host time of the last byte read from the port (subclasses that track it override)."""
        return now()

    def _check_stall(self) -> None:
        """Raise DeviceLost (after marking the source stalled) when no usable sample came for
        ``stall_after_s`` although the link is up."""
        t = now()
        if t - self._last_usable <= self.stall_after_s or t - self._last_byte_time() > 0.5 * self.stall_after_s:
            return  # usable data, or a silent port (that is lost_after_s's case: "no data")
        msg = (f"{self.kind} on {self.port} stalled: connected but no usable sample for "
               f"{t - self._last_usable:.1f} s")
        with self._status_lock:
            stalls = self._status.stalls + 1
        self._update_status(state=DeviceState.STALLED, stalls=stalls, last_error=msg)
        raise DeviceLost(msg)

    def _run(self) -> None:
        first = True
        streamed = False
        failures = 0
        while not self._stop.is_set():
            self._set_state(DeviceState.CONNECTING if first else DeviceState.RECONNECTING)
            received = self._status.samples_received
            try:
                self._ser = self._open()
                self._handshake()
                self._last_usable = now()
                self._set_state(DeviceState.STREAMING)
                streamed = True
                while not self._stop.is_set():
                    self._read_some()
                    self._check_stall()
            except DeviceError as e:
                # Before the first stream a wrong port or device is final; after it, nothing is.
                if not streamed and not isinstance(e, DeviceLost) and (first or not self.reconnect):
                    raise
                if not self._stop.is_set():
                    log.warning("%s on %s: %s", self.kind, self.port, e)
                    self._update_status(last_error=str(e))
            finally:
                if self._stop.is_set():
                    try:
                        self._shutdown_device()
                    except (DeviceError, OSError):
                        pass
                self._close_port()
            if self._stop.is_set():
                break
            if not self.reconnect:
                raise DeviceLost(f"{self.kind} on {self.port} was lost and reconnect is off")
            first = False
            failures = 0 if self._status.samples_received > received else failures + 1
            delay = min(self.reconnect_max_s, self.reconnect_interval_s * 2 ** max(0, failures - 1))
            if self._sleep(delay):
                break
