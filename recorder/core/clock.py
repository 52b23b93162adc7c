"""One host clock, and the fit that turns sample counts into times.

Devices deliver samples in bursts (the Myo sends two samples per BLE notification and several
notifications at once), so the arrival time of a byte says little about when its sample was taken.
What is reliable is the sample *count* at a nominal rate. :class:`SampleClock` fits

    t(i) = t0 + i / rate

to (index of the last sample in a chunk, arrival time of that chunk) pairs, the way LSL's
dejittering does: the slope (the device's true rate, drift included) comes from a least-squares fit
over a sliding window, and the intercept from the *lower envelope* of the residuals, because a sample
can arrive late but never before it was taken. Transport latency that is always present (the best
case) remains as a constant offset of the order of a pty or USB round trip (tens of microseconds).
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np


def now() -> float:
    """Seconds on the one host clock (monotonic, shared by every thread and process on the host)."""
    return time.monotonic()


class SampleClock:
    """Maps device-continuous sample indices to host-clock seconds.

    nominal_rate_hz: the rate the device claims (200 for Myo raw, 250 for Cyton).
    window_s: how much history the fit uses; long enough to average drift, short enough to follow it.
    min_fit_s: history needed before the fitted rate replaces the nominal one.
    envelope_s: history the intercept's lower envelope looks at. On a loaded host the least
        delayed read of 2 s was often still milliseconds late (timestamp p99 5.4 ms under two
        nice -5 CPU hogs); over 10 s one close to the best case is far likelier (2.6 ms).
    """

    def __init__(self, nominal_rate_hz: float, window_s: float = 30.0, min_fit_s: float = 5.0,
                 envelope_s: float = 10.0):
        if nominal_rate_hz <= 0:
            raise ValueError(f"nominal rate must be positive, got {nominal_rate_hz}")
        self.nominal_rate_hz = float(nominal_rate_hz)
        self.window_s = window_s
        self.min_fit_s = min_fit_s
        self.envelope_s = envelope_s
        self._pairs: deque[tuple[int, float]] = deque()
        self._period = 1.0 / self.nominal_rate_hz
        self._i0: int | None = None
        self._t0: float | None = None
        self._refit_every = 16
        self._since_fit = 0

    @property
    def rate_hz(self) -> float:
        """Fitted sample rate (Hz); the nominal one until enough history exists."""
        return 1.0 / self._period

    def reset(self) -> None:
        """Forget the fit (after a device restart whose counter starts again)."""
        self._pairs.clear()
        self._period = 1.0 / self.nominal_rate_hz
        self._i0 = self._t0 = None

    def expected_index(self, arrival: float, n: int) -> int | None:
        """Index the first of n samples that just arrived would have, if no sample was lost in between
        being inconsistent; used by counter-less devices after a silence. None before any data."""
        if self._i0 is None:
            return None
        last = self._i0 + (arrival - self._t0) / self._period
        return int(round(last)) - n + 1

    def index_at(self, t: float) -> float | None:
        """Fractional index of the sample the fit places at host time t; None before any data."""
        if self._i0 is None:
            return None
        return self._i0 + (t - self._t0) / self._period

    def lateness(self) -> np.ndarray:
        """(k,) how late each observed (index, arrival) pair of the window arrived after the time
        the fit gives its index, in sample periods (>= 0 up to fit noise), oldest first."""
        if self._i0 is None:
            return np.zeros(0)
        arr = np.asarray(self._pairs, dtype=np.float64)
        return (arr[:, 1] - self._t0) / self._period - (arr[:, 0] - self._i0)

    def observe(self, last_index: int, arrival: float) -> None:
        """Add one (index of the newest sample, host arrival seconds) pair and update the fit."""
        pairs = self._pairs
        pairs.append((last_index, arrival))
        while pairs and arrival - pairs[0][1] > self.window_s:
            pairs.popleft()
        if self._i0 is None:
            self._i0, self._t0 = last_index, arrival
            return
        # Lower envelope: a pair that implies an earlier origin than the current fit is the better one.
        predicted = self._t0 + (last_index - self._i0) * self._period
        if arrival < predicted:
            self._i0, self._t0 = last_index, arrival
        self._since_fit += 1
        if self._since_fit >= self._refit_every:
            self._since_fit = 0
            self._refit()

    def _refit(self) -> None:
        pairs = self._pairs
        span = pairs[-1][1] - pairs[0][1]
        arr = np.asarray(pairs, dtype=np.float64)
        idx, t = arr[:, 0], arr[:, 1]
        if span >= self.min_fit_s and len(pairs) >= 8:
            # Fit the slope through the lower envelope (the least-delayed pair of each second), not
            # all pairs: queueing delay that grows or shrinks over the window would bend a plain fit.
            resid = t - idx / self.nominal_rate_hz
            bins = ((t - t[0]) // 1.0).astype(np.int64)
            order = np.lexsort((resid, bins))
            first = np.ones(len(order), dtype=bool)
            first[1:] = bins[order][1:] != bins[order][:-1]
            sel = order[first]
            if len(sel) >= 3:
                ei, et = idx[sel], t[sel]
            else:
                ei, et = idx, t
            ic = ei - ei.mean()
            slope = float(np.dot(ic, et - et.mean()) / np.dot(ic, ic))
            # A second in which every read was late (a loaded host) still lifts its bin's minimum
            # and tilts the line; delay is one-sided, so refit through the lower half of the bins
            # (twice) to leave such seconds out.
            for _ in range(2):
                if len(ei) < 6:
                    break
                r = et - slope * ei
                keep = r <= np.median(r)
                ei, et = ei[keep], et[keep]
                ic = ei - ei.mean()
                slope = float(np.dot(ic, et - et.mean()) / np.dot(ic, ic))
            # Accept only physically plausible rates (within 5 % of nominal): guards against a
            # stall or a burst in a short window bending the fit.
            if abs(slope * self.nominal_rate_hz - 1.0) < 0.05:
                self._period = slope
        # Intercept from the lower envelope of the recent residuals.
        recent = t >= t[-1] - self.envelope_s
        resid = t[recent] - idx[recent] * self._period
        k = int(np.argmin(resid))
        self._i0 = int(idx[recent][k])
        self._t0 = float(t[recent][k])

    def latency_quantile(self, q: float = 0.99) -> float:
        """Seconds by which the newest sample of a read arrives after its fitted time, at quantile q
        of the recent history (0 before there is any): how late data can be without being lost."""
        if self._i0 is None or len(self._pairs) < 8:
            return 0.0
        arr = np.asarray(self._pairs, dtype=np.float64)
        resid = arr[:, 1] - (self._t0 + (arr[:, 0] - self._i0) * self._period)
        return float(max(0.0, np.quantile(resid, q)))

    def times(self, first_index: int, n: int) -> np.ndarray:
        """(n,) float64 host seconds for samples first_index .. first_index + n - 1."""
        if self._i0 is None:
            raise RuntimeError("SampleClock.times() before any observe()")
        idx = np.arange(first_index, first_index + n, dtype=np.float64)
        return self._t0 + (idx - self._i0) * self._period

    def stamp(self, first_index: int, n: int, arrival: float) -> np.ndarray:
        """Observe a chunk of n samples that arrived at ``arrival`` and return their (n,) times."""
        self.observe(first_index + n - 1, arrival)
        return self.times(first_index, n)
