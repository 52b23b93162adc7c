"""LSL outlets and the LSL EMG source, on loopback with real pylsl outlets and inlets.

Stream names carry a random suffix so parallel test runs on one host never see each other's streams.
"""

from __future__ import annotations

import gc
import json
import threading
import uuid

import numpy as np
import pytest

pylsl = pytest.importorskip("pylsl")

from recorder.core.clock import now  # noqa: E402
from recorder.sources.base import DeviceNotFound  # noqa: E402
from recorder.sources.lsl import (LANDMARK_CHANNELS, EmgOutlet, LslEmgSource, LslOutlets, MarkerOutlet,  # noqa: E402
                          lsl_to_host_offset)
from recorder.core.types import DeviceState, EmgChunk, Landmarks  # noqa: E402

RATE = 200.0
CH = [f"emg{i + 1}" for i in range(8)]


def _name(tag: str) -> str:
    return f"test-{tag}-{uuid.uuid4().hex[:8]}"


class Collector:
    """Sink that gathers chunks and wakes a waiter when enough samples arrived."""

    def __init__(self):
        self.chunks: list[EmgChunk] = []
        self.n = 0
        self._cv = threading.Condition()

    def __call__(self, chunk: EmgChunk) -> None:
        with self._cv:
            self.chunks.append(chunk)
            self.n += len(chunk)
            self._cv.notify_all()

    def wait_for(self, n: int, timeout: float = 5.0) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: self.n >= n, timeout)

    def arrays(self):
        return (np.concatenate([c.x for c in self.chunks]), np.concatenate([c.t for c in self.chunks]),
                self.chunks)


class StateWatch:
    def __init__(self):
        self.states: list[DeviceState] = []
        self._cv = threading.Condition()

    def __call__(self, st) -> None:
        with self._cv:
            self.states.append(st.state)
            self._cv.notify_all()

    def wait_for(self, state: DeviceState, after: int = 0, timeout: float = 5.0) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: state in self.states[after:], timeout)


def _signal(n: int, start: int = 0) -> np.ndarray:
    k = np.arange(start, start + n)[:, None] + 7 * np.arange(8)[None, :]
    return ((k % 255) - 127).astype(np.int8)


def test_clock_offset_is_constant_and_small_on_one_host():
    a, b = lsl_to_host_offset(), lsl_to_host_offset()
    assert abs(a - b) < 1e-4
    assert abs((pylsl.local_clock() + a) - now()) < 1e-3


def test_outlet_to_source_values_and_times():
    name = _name("emg")
    out = EmgOutlet(name, RATE, CH, "counts", 0.5, np.int8, device="myo")
    src = LslEmgSource(name=name, resolve_timeout_s=2.0)
    assert src.channel_names == CH and src.sample_rate_hz == RATE
    assert src.dtype == np.int8 and src.scale_to_uV == 0.5 and src.units == "counts"
    sink, watch = Collector(), StateWatch()
    src.start(sink, on_status=watch)
    try:
        assert watch.wait_for(DeviceState.CONNECTING)
        assert out.wait_for_consumers(3.0)
        n = 600
        x = _signal(n)
        t = now() + np.arange(n) / RATE
        for k in range(0, n, 25):  # Myo-like bursts
            out.push(x[k:k + 25], t[k:k + 25])
        assert sink.wait_for(n), f"got {sink.n} of {n} samples"
        xs, ts, chunks = sink.arrays()
        assert xs.dtype == np.int8 and xs.shape == (n, 8)
        np.testing.assert_array_equal(xs, x)
        assert np.abs(ts - t).max() < 1e-3  # stream timestamps mapped back onto the host clock
        assert chunks[0].first_index == 0 and chunks[-1].first_index + len(chunks[-1]) == n
        st = src.status()
        assert st.state == DeviceState.STREAMING and st.samples_received == n and st.samples_lost == 0
        assert st.info["time_source"] == "stream"
    finally:
        src.stop()
    assert src.status().state == DeviceState.STOPPED


def test_missing_stream_raises_device_not_found_quickly():
    name = _name("absent")
    t = now()
    with pytest.raises(DeviceNotFound, match=name):
        LslEmgSource(name=name, resolve_timeout_s=0.3)
    assert now() - t < 3.0


def test_source_reconnects_when_outlet_comes_back():
    name = _name("flaky")
    out = EmgOutlet(name, RATE, CH, "counts", 1.0, np.int16, source_id=name)
    src = LslEmgSource(name=name, resolve_timeout_s=2.0)
    sink, watch = Collector(), StateWatch()
    src.start(sink, on_status=watch)
    try:
        assert out.wait_for_consumers(3.0)
        t = now() + np.arange(100) / RATE
        out.push(_signal(100).astype(np.int16), t)
        assert sink.wait_for(100)
        n_states = len(watch.states)
        del out  # the outlet vanishes: the inlet raises LostError -> reconnecting
        gc.collect()
        assert watch.wait_for(DeviceState.RECONNECTING, after=n_states, timeout=8.0)
        out = EmgOutlet(name, RATE, CH, "counts", 1.0, np.int16, source_id=name)
        assert out.wait_for_consumers(5.0)
        t2 = now() + np.arange(50) / RATE
        out.push(_signal(50, 100).astype(np.int16), t2)
        assert sink.wait_for(150, timeout=5.0)
        assert watch.wait_for(DeviceState.STREAMING, after=n_states + 1)
        st = src.status()
        assert st.reconnects >= 1
        _, ts, chunks = sink.arrays()
        assert np.abs(ts[100:] - t2).max() < 1e-3
        # The silence between the two outlets is a gap: counted as lost samples.
        assert chunks[-1].first_index > 100 and st.samples_lost > 0
    finally:
        src.stop()


def test_untrustworthy_timestamps_fall_back_to_fitted_clock():
    name = _name("badts")
    out = EmgOutlet(name, RATE, CH, dtype=np.float32)
    src = LslEmgSource(name=name, resolve_timeout_s=2.0)
    sink = Collector()
    src.start(sink)
    try:
        assert out.wait_for_consumers(3.0)
        # A sender that stamps every sample of a chunk with one time: not increasing -> "fit".
        t = now()
        out.push(np.ones((20, 8), np.float32), np.full(20, t))
        assert sink.wait_for(20)
        assert src.status().info["time_source"] == "fit"
        _, ts, _ = sink.arrays()
        assert np.all(np.diff(ts) > 0)
    finally:
        src.stop()


def test_markers_carry_strings_with_host_times():
    name = _name("markers")
    out = MarkerOutlet(name)
    info = pylsl.resolve_byprop("name", name, 1, 2.0)[0]
    inlet = pylsl.StreamInlet(info)
    inlet.open_stream(2.0)
    tc = inlet.time_correction(2.0)
    assert out.wait_for_consumers(2.0)
    t = now()
    out.push_marker("gesture: fist", t)
    out.push_marker("émoji ✓", t + 0.5)
    got, stamps = inlet.pull_chunk(timeout=2.0, max_samples=10, min_samples=2)
    assert [g[0] for g in got] == ["gesture: fist", "émoji ✓"]
    host = np.asarray(stamps) + tc + out.offset
    assert np.abs(host - [t, t + 0.5]).max() < 1e-3
    assert info.type() == "Markers" and info.channel_format() == pylsl.cf_string


class FakeCapture:
    """What LslOutlets needs from a Capture: the EMG source's description and listeners."""

    class _Emg:
        kind, sample_rate_hz, channel_names, units = "synthetic", RATE, CH, "counts"
        scale_to_uV, dtype = float("nan"), np.int8

    class _Cam:
        fps = 30.0

    def __init__(self):
        self.emg, self.camera, self.landmarks = self._Emg(), self._Cam(), object()
        self.listeners = []

    def add_listener(self, fn):
        self.listeners.append(fn)

    def remove_listener(self, fn):
        self.listeners.remove(fn)

    def emit(self, event, *args):
        for listener in list(self.listeners):
            getattr(listener, f"on_{event}")(*args)


def test_lsl_outlets_publish_capture_events():
    cap = FakeCapture()
    prefix = _name("cap")
    with LslOutlets(cap, name=prefix, predictions=True) as outs:
        assert len(cap.listeners) == 1
        found = {(i.name(), i.type()) for i in pylsl.resolve_bypred(f"starts-with(name,'{prefix}')", 4, 3.0)}
        assert found == {(f"{prefix}-EMG", "EMG"), (f"{prefix}-Hand", "MoCap"),
                         (f"{prefix}-Predictions", "MoCap"), (f"{prefix}-Markers", "Markers")}
        hand_info = pylsl.resolve_byprop("name", f"{prefix}-Hand", 1, 2.0)[0]
        hand = pylsl.StreamInlet(hand_info)
        full = hand.info(2.0)
        assert full.channel_count() == 63 and full.nominal_srate() == 30.0
        assert full.get_channel_labels() == list(LANDMARK_CHANNELS)
        assert set(full.get_channel_units()) == {"millimeters"}
        emg = pylsl.StreamInlet(pylsl.resolve_byprop("name", f"{prefix}-EMG", 1, 2.0)[0])
        mk = pylsl.StreamInlet(pylsl.resolve_byprop("name", f"{prefix}-Markers", 1, 2.0)[0])
        for inl in (hand, emg, mk):
            inl.open_stream(2.0)
        assert outs.hand.wait_for_consumers(2.0) and outs.emg.wait_for_consumers(2.0)
        assert outs.markers.wait_for_consumers(2.0)
        t = now()
        x = _signal(40)
        cap.emit("emg", EmgChunk(x, t + np.arange(40) / RATE, 0, t))
        world = np.arange(63, dtype=np.float32).reshape(21, 3)
        cap.emit("landmarks", Landmarks(world * 0, world, 0.9, "Right", t + 0.01, 3))
        cap.emit("recording", "recording")
        cap.emit("device_state", DeviceState.RECONNECTING)
        cap.emit("error", "myo: lost")
        cap.emit("label", "fist", t + 0.1, True)
        cap.emit("label", "fist", t + 0.6, False)
        cap.emit("marker", t + 0.7, "redo")
        xs, _ = emg.pull_chunk(timeout=2.0, max_samples=100, min_samples=40, as_numpy=True)
        np.testing.assert_array_equal(xs, x)
        ys, yt = hand.pull_chunk(timeout=2.0, max_samples=5, min_samples=1, as_numpy=True)
        np.testing.assert_array_equal(ys[0], world.reshape(63))
        assert abs(yt[0] + hand.time_correction(1.0) + outs.offset - (t + 0.01)) < 1e-3
        m, mt = mk.pull_chunk(timeout=2.0, max_samples=10, min_samples=6)
        assert [s[0] for s in m] == ["state:recording", "state:emg:reconnecting", "error:myo: lost",
                                     "label:fist:on", "label:fist:off", "marker:redo"]
        corr = mk.time_correction(1.0) + outs.offset
        assert abs(mt[3] + corr - (t + 0.1)) < 1e-3 and abs(mt[5] + corr - (t + 0.7)) < 1e-3
    assert cap.listeners == []


def test_cli_lsl_list_shows_stream(capsys):
    from recorder.cli.emgrec import main

    name = _name("listed")
    out = EmgOutlet(name, RATE, CH)  # noqa: F841  (kept alive while listing)
    assert main(["lsl", "list", "--wait", "1.0", "--json"]) == 0
    streams = json.loads(capsys.readouterr().out)
    mine = [s for s in streams if s["name"] == name]
    assert mine and mine[0]["type"] == "EMG" and mine[0]["channels"] == 8 and mine[0]["rate_hz"] == RATE


def test_recording_an_lsl_stream_gives_a_session_with_the_right_samples_and_times(tmp_path):
    from recorder.session.format import SessionReader, SessionWriter

    name = _name("rec")
    out = EmgOutlet(name, RATE, CH, "counts", float("nan"), np.int8)
    src = LslEmgSource(name=name, resolve_timeout_s=2.0)
    t0 = now()
    writer = SessionWriter(tmp_path / "lsl.h5", sample_rate_hz=src.sample_rate_hz, channel_names=src.channel_names,
                           units=src.units, scale_to_uV=src.scale_to_uV, emg_dtype=src.dtype, t0=t0,
                           metadata={"device": src.describe()}, video=False).start()
    sink = Collector()

    def both(chunk):
        writer.add_emg(chunk)
        sink(chunk)

    src.start(both)
    try:
        assert out.wait_for_consumers(3.0)
        n = 1000
        x = _signal(n)
        t = now() + 0.05 + np.arange(n) / RATE
        for k in range(0, n, 40):
            out.push(x[k:k + 40], t[k:k + 40])
        assert sink.wait_for(n)
    finally:
        src.stop()
        path = writer.close()
    assert writer.error is None
    with SessionReader(path) as r:
        assert r.n_samples == n and r.channel_names == CH
        np.testing.assert_array_equal(np.asarray(r.emg_data), x)
        assert np.abs(r.emg_t - (t - t0)).max() < 1e-3
        assert r.attrs["device"]["kind"] == "lsl" and r.attrs["device"]["stream_name"] == name


def test_cli_publish_streams_a_synthetic_source():
    import subprocess
    import sys

    prefix = _name("pub")
    proc = subprocess.Popen([sys.executable, "-m", "recorder", "lsl", "publish", "--emg", "synthetic:200x8",
                             "--name", prefix, "--duration", "6"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        src = LslEmgSource(name=f"{prefix}-EMG", resolve_timeout_s=10.0)
        assert src.sample_rate_hz == 200.0 and src.n_channels == 8
        sink = Collector()
        src.start(sink)
        try:
            assert sink.wait_for(200, timeout=5.0)
        finally:
            src.stop()
        _, ts, _ = sink.arrays()
        assert np.all(np.diff(ts) > 0) and abs(ts[-1] - now()) < 1.0
    finally:
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and f"publishing {prefix}-EMG" in out


def test_lsl_spec_opens_an_lsl_source():
    from recorder.sources.factory import open_emg

    name = _name("spec")
    out = EmgOutlet(name, RATE, CH)  # noqa: F841
    src = open_emg(f"lsl:{name}")
    assert isinstance(src, LslEmgSource) and src.kind == "lsl" and src.channel_names == CH


def test_name_is_matched_literally_not_as_a_query():
    """``lsl:NAME`` must not be pasted into an LSL (XPath) query: a crafted name selected another stream."""
    real = _name("real")
    out = EmgOutlet(real, RATE, CH, "counts", 0.5, np.int8, device="myo")
    try:
        with pytest.raises(DeviceNotFound):
            LslEmgSource(name="x' or type='EMG", resolve_timeout_s=0.8)
        with pytest.raises(DeviceNotFound):
            LslEmgSource(name=f"{real}' or name='{real}", resolve_timeout_s=0.8)
        assert LslEmgSource(name=real, resolve_timeout_s=2.0).channel_names == CH
        quoted = "it's \"" + real + "\""  # both quote kinds: still found by its exact name
        out2 = EmgOutlet(quoted, RATE, CH[:4], "counts", 0.5, np.int8, device="myo")
        assert LslEmgSource(name=quoted, resolve_timeout_s=2.0).channel_names == CH[:4]
        del out2
    finally:
        del out
        gc.collect()


def test_two_streams_with_one_name_are_warned_about(caplog):
    name = _name("dup")
    a = EmgOutlet(name, RATE, CH, "counts", 0.5, np.int8, device="myo")
    b = EmgOutlet(name, RATE, CH, "counts", 0.5, np.int8, device="myo")
    try:
        with caplog.at_level("WARNING", logger="recorder.sources.lsl"):
            deadline = now() + 10
            while now() < deadline and "LSL streams are named" not in caplog.text:
                LslEmgSource(name=name, resolve_timeout_s=2.0)
        assert f"2 LSL streams are named {name!r}" in caplog.text
    finally:
        del a, b
        gc.collect()
