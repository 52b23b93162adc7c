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
