import threading

import numpy as np
import pytest

from recorder.capture.ringbuffer import RingBuffer


def test_wraps_and_keeps_newest_in_order():
    rb = RingBuffer(10, 2)
    for k in range(7):  # 21 samples in chunks of 3 -> wraps twice
        t = np.arange(3 * k, 3 * k + 3, dtype=float)
        rb.push(t, np.stack([t, -t], axis=1))
    t, x = rb.last(100)
    assert list(t) == list(range(11, 21))
    assert np.array_equal(x[:, 1], -t)
    assert rb.total == 21 and len(rb) == 10


def test_latest_and_since():
    rb = RingBuffer(100, 1)
    t = np.arange(50) * 0.1
    rb.push(t, t[:, None])
    lt, _ = rb.latest(1.0)
    assert lt[0] == pytest.approx(3.9) and lt[-1] == pytest.approx(4.9)
    st, _ = rb.since(4.5)
    assert len(st) == 4


def test_reads_match_a_plain_list_at_every_fill_and_wrap():
    """last / latest / since copy only the span asked for, searching the ring's two runs; they must
    give what searching a plain copy of the newest samples gives, wrapped or not, ties included."""
    rng = np.random.default_rng(0)
    for _ in range(150):
        cap, c = int(rng.integers(1, 30)), int(rng.integers(1, 3))
        rb = RingBuffer(cap, c)
        all_t, all_x = np.zeros(0), np.zeros((0, c), np.float32)
        for _ in range(int(rng.integers(1, 8))):
            n = int(rng.integers(0, 40))
            t = (all_t[-1] if len(all_t) else 0.0) + np.cumsum(rng.integers(0, 3, n)).astype(float)
            x = rng.normal(size=(n, c)).astype(np.float32)
            rb.push(t, x)
            all_t, all_x = np.r_[all_t, t], np.r_[all_x, x]
            kt, kx = all_t[-cap:], all_x[-cap:]
            for n2 in (0, 1, 5, cap + 3):
                m = min(n2, len(kt))
                a, b = rb.last(n2)
                assert np.array_equal(a, kt[len(kt) - m:]) and np.array_equal(b, kx[len(kx) - m:])
            for sec in (0.0, 1.0, 3.5, 1e9):
                a, b = rb.latest(sec)
                k = int(np.searchsorted(kt, kt[-1] - sec, "left")) if len(kt) else 0
                assert np.array_equal(a, kt[k:]) and np.array_equal(b, kx[k:])
            for t0 in (-1.0, 5.0, 1e9, *kt[:2], *kt[-2:]):
                a, b = rb.since(t0)
                k = int(np.searchsorted(kt, t0, "right"))
                assert np.array_equal(a, kt[k:]) and np.array_equal(b, kx[k:])


def test_chunk_larger_than_capacity_keeps_tail():
    rb = RingBuffer(5, 1)
    t = np.arange(12, dtype=float)
    rb.push(t, t[:, None])
    assert list(rb.last(5)[0]) == [7, 8, 9, 10, 11]


def test_shape_mismatch_is_an_error():
    rb = RingBuffer(5, 2)
    with pytest.raises(ValueError):
        rb.push(np.zeros(3), np.zeros((3, 3)))


def test_concurrent_push_and_read_stay_consistent():
    rb = RingBuffer(1000, 1)
    stop = threading.Event()

    def producer():
        k = 0
        while not stop.is_set() and k < 20000:
            t = np.arange(k, k + 10, dtype=float)
            rb.push(t, t[:, None])
            k += 10

    th = threading.Thread(target=producer)
    th.start()
    for _ in range(300):
        t, x = rb.last(500)
        assert np.all(np.diff(t) == 1.0)
        assert np.array_equal(t, x[:, 0])
    stop.set()
    th.join()
