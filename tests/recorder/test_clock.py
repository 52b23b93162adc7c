"""The sample-count clock fit against a simulated bursty device with drift and jitter."""
import numpy as np
import pytest

from recorder.core.clock import SampleClock


def simulate(rate=200.0, ppm=150.0, seconds=60.0, burst=6, latency_ms=(0.05, 3.0), seed=1):
    """Samples taken at true times; delivered in bursts of `burst` samples, each burst arriving
    after its last sample plus a random latency (min latency_ms[0], exponential tail of latency_ms[1])."""
    rng = np.random.default_rng(seed)
    true_rate = rate * (1 + ppm * 1e-6)
    n = int(seconds * rate)
    t_true = 1000.0 + np.arange(n) / true_rate
    chunks = []
    for i in range(0, n - burst, burst):
        lat = latency_ms[0] / 1e3 + rng.exponential(latency_ms[1] / 1e3)
        chunks.append((i, burst, t_true[i + burst - 1] + lat))
    # arrivals cannot go backwards on a serial link
    arr = np.maximum.accumulate([c[2] for c in chunks])
    return t_true, [(i, k, a) for (i, k, _), a in zip(chunks, arr)]


def run_fit(t_true, chunks, rate=200.0):
    clock = SampleClock(rate)
    err = np.empty(len(t_true))
    err[:] = np.nan
    for i, k, a in chunks:
        err[i:i + k] = clock.stamp(i, k, a) - t_true[i:i + k]
    return clock, err[np.isfinite(err)]


def test_fit_removes_jitter_and_drift():
    t_true, chunks = simulate()
    clock, err = run_fit(t_true, chunks)
    settled = np.abs(err[int(10 * 200):]) * 1e3  # after 10 s of history
    assert np.percentile(settled, 99) < 0.5, np.percentile(settled, 99)
    assert clock.rate_hz == pytest.approx(200 * (1 + 150e-6), rel=2e-5)
    # Naive stamping (arrival time of the chunk for every sample) would be off by milliseconds.
    naive = np.concatenate([np.full(k, a) - t_true[i:i + k] for i, k, a in chunks])
    assert np.percentile(np.abs(naive), 99) * 1e3 > 10 * np.percentile(settled, 99)


def test_fitted_times_are_monotonic_within_and_across_chunks():
    t_true, chunks = simulate(seconds=20)
    clock = SampleClock(200.0)
    last = -np.inf
    for i, k, a in chunks:
        t = clock.stamp(i, k, a)
        assert np.all(np.diff(t) > 0)
        assert t[0] > last - 1e-4  # re-anchoring may move by well under a sample period
        last = t[-1]


def test_expected_index_places_a_gap():
    t_true, chunks = simulate(seconds=10, ppm=0)
    clock = SampleClock(200.0)
    for i, k, a in chunks[:200]:
        clock.stamp(i, k, a)
    # A burst of 6 arriving 1 s after the previous one: its last sample is ~200 samples after the
    # previous burst's last, so 200 - 6 samples were lost in between.
    last_i, last_k, last_a = chunks[199]
    idx = clock.expected_index(last_a + 1.0, 6)
    assert idx - (last_i + last_k) == pytest.approx(194, abs=3)


def test_rejects_nonsense_rate():
    with pytest.raises(ValueError):
        SampleClock(0)


def test_growing_queueing_delay_does_not_bend_the_rate():
    """Mean latency that grows over the window (a filling queue) must not be read as drift."""
    rng = np.random.default_rng(3)
    rate, true_rate = 200.0, 200.0 * (1 + 60e-6)
    n = 40 * 200
    t_true = 50.0 + np.arange(n) / true_rate
    clock = SampleClock(rate)
    for i in range(0, n - 4, 4):
        scale = 0.5e-3 + 8e-3 * i / n  # mean extra delay grows from 0.5 to 8.5 ms
        a = t_true[i + 3] + 50e-6 + (rng.exponential(scale) if rng.random() > 0.1 else 0.0)
        clock.stamp(i, 4, a)
    assert abs(clock.rate_hz / true_rate - 1) < 20e-6


def test_stamped_times_never_step_back_when_the_envelope_moves_earlier():
    """A read much less delayed than the first one moves the fit's intercept earlier by more than
    the chunk spacing; the chunk's times must still follow the previous chunk's (issue 15: four
    backwards steps in /emg/t on a loaded machine)."""
    import numpy as np

    from recorder.sources.base import EmgSource

    class Src(EmgSource):
        sample_rate_hz = 200.0
        channel_names = ["a"]

        def _run(self):
            pass

    src = Src()
    got = []
    src._sink = got.append
    x = np.zeros((10, 1), np.int16)
    src._emit(x, 1.0, first_index=0)      # the first read was 45 ms late...
    src._emit(x, 1.01, first_index=10)    # ...the second on time: the intercept jumps 40 ms earlier
    t = np.concatenate([c.t for c in got])
    assert np.all(np.diff(t) > 0)
