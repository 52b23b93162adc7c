"""Replaying a session emits the stored raw samples unchanged (bit-identical re-recording)."""

from __future__ import annotations

import threading

import numpy as np

from recorder.core.clock import now
from recorder.sources.replay import ReplaySource
from recorder.session.format import SessionReader, SessionWriter
from recorder.core.types import EmgChunk


def _session(path, n=1000, rate=200.0):
    x = np.random.default_rng(3).integers(-128, 128, (n, 8)).astype(np.int8)
    t = 0.5 + np.arange(n) / rate
    w = SessionWriter(path, sample_rate_hz=rate, channel_names=[f"c{i}" for i in range(8)], emg_dtype=np.int8,
                      t0=0.0, video=False).start()
    w.add_emg(EmgChunk(x, t, 0, t[-1]))
    w.add_label(1.0, 2.0, "fist")
    w.close()
    return x, t


def _record(src: ReplaySource, path, stop_after: int | None = None):
    """Record the replay into a new session through the same writer a live device feeds."""
    done = threading.Event()
    w = SessionWriter(path, sample_rate_hz=src.sample_rate_hz, channel_names=src.channel_names,
                      emg_dtype=src.dtype, t0=now(), video=False).start()
    got = []

    def sink(chunk):
        got.append(chunk)
        w.add_emg(chunk)
        if stop_after is not None and sum(len(c) for c in got) >= stop_after:
            done.set()

    src.start(sink)
    if stop_after is None:
        src._thread.join(30)
    else:
        assert done.wait(30)
    src.stop()
    w.close()
    return got


def test_fast_replay_is_bit_identical(tmp_path):
    x, t = _session(tmp_path / "a.h5")
    src = ReplaySource(tmp_path / "a.h5", realtime=False)
    assert src.kind == "replay" and src.labels == [(1.0, 2.0, "fist")]
    chunks = _record(src, tmp_path / "b.h5")
    assert src.status().state.value == "stopped" and src.status().samples_received == len(x)
    with SessionReader(tmp_path / "b.h5") as r:
        assert r.emg_data.dtype == np.int8 and np.array_equal(np.asarray(r.emg_data), x)
        # Stored spacing survives exactly (up to float rounding of the host offset).
        assert np.allclose(np.diff(r.emg_t), np.diff(t), atol=1e-9)
    assert all(len(c) == src.chunk for c in chunks[:-1])


def test_realtime_replay_is_paced_and_loops(tmp_path):
    x, t = _session(tmp_path / "a.h5", n=100)  # 0.5 s
    src = ReplaySource(tmp_path / "a.h5", realtime=True, loop=True, chunk_s=0.02)
    t_start = now()
    chunks = _record(src, tmp_path / "b.h5", stop_after=250)  # 2.5 passes
    elapsed = now() - t_start
    assert 1.0 < elapsed < 3.0  # paced: 250 samples at 200 Hz = 1.25 s
    data = np.concatenate([c.x for c in chunks])
    assert np.array_equal(data[:200], np.concatenate([x, x]))
    times = np.concatenate([c.t for c in chunks])
    assert np.all(np.diff(times) > 0) and np.allclose(np.diff(times), 1 / 200, atol=1e-9)
    # Each chunk was emitted no earlier than its last sample's time.
    assert all(c.arrival >= c.t[-1] - 1e-3 for c in chunks)
