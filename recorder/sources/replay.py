"""Replay the EMG of a session file as a live source (kind "replay").

The stored raw samples are emitted unchanged (same dtype, same values), so recording a replay gives
bit-identical EMG. Sample times are the stored session times shifted to the host clock at which the
replay started (``host = start_host + t_session - t_first``); the base class' clock fit is bypassed
because the stored times are already fitted.
"""

from __future__ import annotations

import numpy as np

from recorder.core.clock import now
from recorder.session.format import SessionReader
from recorder.core.types import DeviceState
from recorder.sources.base import EmgSource, SourceConfigError


class _StoredClock:
    """Stands in for :class:`recorder.core.clock.SampleClock`: ``stamp`` returns the stored times of the
    chunk being emitted (set just before each ``_emit``)."""

    def __init__(self, rate_hz: float):
        self.nominal_rate_hz = self.rate_hz = rate_hz
        self.next_t: np.ndarray | None = None

    def stamp(self, first_index: int, n: int, arrival: float) -> np.ndarray:
        return self.next_t

    def reset(self) -> None:
        self.next_t = None


class ReplaySource(EmgSource):
    """Emits the EMG of ``path``.

    realtime: True to pace chunks by the stored times (like a device, ``chunk_s`` per chunk), False
        to emit as fast as the sink takes them.
    loop: start again at the end (times keep increasing; one sample period between passes).
    start_s / end_s: session-seconds range to replay (default: all).
    """

    kind = "replay"

    def __init__(self, path, realtime: bool = True, loop: bool = False, chunk_s: float = 0.016,
                 start_s: float | None = None, end_s: float | None = None):
        self.path = path
        with SessionReader(path) as r:  # fail early, in the caller's thread, on a bad file
            self.sample_rate_hz = r.sample_rate_hz
            self.channel_names = list(r.channel_names)
            self.units = r.units
            self.scale_to_uV = r.scale_to_uV
            self.dtype = r.emg_data.dtype
            t = r.emg_t
            a, b = np.searchsorted(t, [-np.inf if start_s is None else start_s,
                                       np.inf if end_s is None else end_s])
            if b <= a:
                raise SourceConfigError(f"{path}: no EMG samples to replay in the chosen range")
            self._t = t[a:b].copy()
            self._x = r.emg_data[a:b]  # raw, exact; a session's EMG is small (8 ch x 200 Hz = 5.8 MB/h)
            self._labels = r.labels
            self._device = r.attrs.get("device", {})
        super().__init__()
        self.realtime, self.loop = bool(realtime), bool(loop)
        self.chunk = max(1, int(round(chunk_s * self.sample_rate_hz)))
        self.clock = _StoredClock(self.sample_rate_hz)
        self.start_host: float | None = None
        self.passes = 0

    @property
    def labels(self) -> list[tuple[float, float, str]]:
        """Stored labels, in session seconds of the file."""
        return list(self._labels)

    def session_to_host(self, t_s: float, pass_index: int = 0) -> float:
        """Host seconds at which the sample stored at session time ``t_s`` is (was) emitted."""
        if self.start_host is None:
            raise RuntimeError("replay not started")
        return self.start_host + (t_s - self._t[0]) + pass_index * self._pass_s

    @property
    def _pass_s(self) -> float:
        return float(self._t[-1] - self._t[0]) + 1.0 / self.sample_rate_hz

    def describe(self) -> dict:
        return {**super().describe(), "source": str(self.path), "realtime": self.realtime, "loop": self.loop,
                "recorded_device": self._device}

    def _run(self) -> None:
        self._set_state(DeviceState.STREAMING)
        start = self.start_host = now()
        n = len(self._t)
        index = 0
        while not self._stop.is_set():
            offset = start - self._t[0] + self.passes * self._pass_s
            for a in range(0, n, self.chunk):
                b = min(n, a + self.chunk)
                t_host = self._t[a:b] + offset
                if self.realtime:
                    delay = t_host[-1] - now()
                    if delay > 0 and self._sleep(delay):
                        return
                elif self._stop.is_set():
                    return
                self.clock.next_t = t_host
                self._emit(self._x[a:b], arrival=max(now(), float(t_host[-1])), first_index=index)
                index += b - a
            self.passes += 1
            if not self.loop:
                return
