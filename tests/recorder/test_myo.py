"""The Myo driver against its firmware emulator on a pty: the real driver code through pyserial."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

import numpy as np
import pytest

from recorder.sources.myo.driver import H_EMG50_CCCD, MyoDriver
from recorder.sources.factory import open_synthetic_myo
from recorder.sources.myo.emulator import MyoEmulator
from recorder.sources.pty_port import PtyEmulator
from recorder.core.types import DeviceState

from .collect import Collector


@pytest.fixture
def emu():
    e = MyoEmulator(seed=3, rate_error_ppm=40).start()
    yield e
    e.close()


@contextmanager
def _running(port: str, **kw):
    """A started MyoDriver(port, **kw) and its Collector; the driver is stopped on leaving."""
    drv = MyoDriver(port, **kw)
    col = Collector()
    drv.start(col, col.on_status)
    try:
        yield drv, col
    finally:
        drv.stop()


def _stream(emu, seconds: float, mode: str = "raw", **kw):
    rate = 200 if mode == "raw" else 50
    with _running(emu.port, mode=mode, **kw) as (drv, col):
        col.wait_total(int(seconds * rate), timeout=seconds + 5.0)
        status = drv.status()
        drv.faults_at_status = dict(emu.faults)
    return drv, col, status


def _check_values(emu, chunks) -> None:
    for c in chunks:
        np.testing.assert_array_equal(c.x, emu.sent_values(c.first_index, len(c)),
                                      err_msg=f"chunk at index {c.first_index}")


def _timestamp_errors_ms(emu, chunks, skip_s: float = 0.5) -> np.ndarray:
    """|EmgChunk.t - truth| in ms, leaving out the first skip_s (the fit's start-up)."""
    t = np.concatenate([c.t for c in chunks])
    truth = np.concatenate([emu.truth_times(c.first_index, len(c)) for c in chunks])
    keep = truth >= truth[0] + skip_s
    return np.abs(t - truth)[keep] * 1e3


def test_raw_streaming_matches_emulator(emu):
    drv, col, st = _stream(emu, 3.0)
    assert st.state == DeviceState.STREAMING
    assert st.info["firmware"] == "1.5.1970" and st.info["name"] == "Myo" and st.info["hardware_rev"] == 2
    assert st.battery_pct == 87
    assert 180 < st.measured_rate_hz < 220  # arrival-based over 2 s: a stall on a busy machine skews it
    assert st.samples_lost == 0 and st.bad_packets == 0
    x = col.chunks[0].x
    assert x.dtype == np.int8 and x.shape[1] == 8
    # Contiguous indices from 0, and every value equals what the firmware sent for that index.
    starts = [c.first_index for c in col.chunks]
    ends = [c.first_index + len(c) for c in col.chunks]
    assert starts[0] == 0 and starts[1:] == ends[:-1]
    _check_values(emu, col.chunks)
    err = _timestamp_errors_ms(emu, col.chunks)
    print(f"\nMyo raw 3 s: timestamp error median {np.median(err):.3f} ms, p99 {np.percentile(err, 99):.3f} ms")
    assert np.percentile(err, 99) < 3.0  # short run on a shared CI box: loose; see the slow test
    # Stop turned EMG off and dropped the link.
    assert not emu.connected and not emu.streaming
    assert drv.status().state == DeviceState.STOPPED
    d = drv.describe()
    assert d["kind"] == "myo" and d["sample_rate_hz"] == 200.0 and d["channel_names"][0] == "emg1"


def test_emg50_mode(emu):
    drv, col, st = _stream(emu, 1.5, mode="emg50")
    assert emu.cccd.get(H_EMG50_CCCD) is None  # cleared by the disconnect on stop
    assert 45 < st.measured_rate_hz < 55
    assert drv.sample_rate_hz == 50.0
    assert col.chunks[0].x.dtype == np.uint16
    assert st.samples_lost == 0
    _check_values(emu, col.chunks)
    assert max(int(c.x.max()) for c in col.chunks) > 0


def test_garbage_and_duplicates_resync(emu):
    emu.garbage_prob = 0.3
    emu.duplicate_prob = 0.05
    drv, col, st = _stream(emu, 2.0)
    assert emu.faults["garbage"] > 20
    # Each garbage run is one bad packet (a run that merges into the next can count once for two),
    # and each duplicate notification is dropped as bad.
    assert st.bad_packets >= emu.faults["garbage"] // 2 + emu.faults["duplicated"] // 2
    assert st.samples_lost == 0
    _check_values(emu, col.chunks)


def test_dropped_notifications_are_counted_and_placed(emu):
    emu.drop_prob = 0.05
    drv, col, st = _stream(emu, 3.0)
    dropped = drv.faults_at_status["dropped"]
    assert dropped > 5
    # Two samples per dropped notification (the last one or two may not be seen yet).
    assert 2 * dropped - 4 <= st.samples_lost <= 2 * emu.faults["dropped"]
    _check_values(emu, col.chunks)  # the gaps were placed at the right indices


def test_fade_and_stall_are_told_apart(emu):
    """A fade loses data (21 notifications = 105 ms: the round-robin sees 1, the clock the other 20);
    a stall only delays it. The driver must count the first as 42 lost samples and the second as
    none. (The clock only counts lateness beyond the link's recent p99 latency as loss, so the
    fade is made longer than a loaded host's scheduling stalls.)"""
    with _running(emu.port) as (drv, col):
        col.wait_total(300, 5.0)
        emu.fade(21)
        col.wait_more(100, 3.0)
        lost_after_fade = drv.status().samples_lost
        emu.stall(0.25)
        col.wait_more(150, 3.0)
        st = drv.status()
    assert emu.faults["dropped"] == 21
    assert lost_after_fade == 42
    assert st.samples_lost == 42
    _check_values(emu, col.chunks)


def test_unplug_mid_stream_reconnects(emu):
    with _running(emu.port) as (drv, col):
        col.wait_total(200, 5.0)
        with col.cond:
            n_before = len(col.chunks)
        emu.unplug()
        assert col.wait_for(lambda: DeviceState.RECONNECTING in col.states, 3.0)
        time.sleep(0.5)  # the dongle stays unplugged this long
        emu.replug()
        assert col.wait_for(lambda: col.states[-1] == DeviceState.STREAMING and len(col.chunks) > n_before + 20, 5.0)
        col.wait_more(100, 3.0)
        st = drv.status()
    assert st.reconnects >= 1
    chunks = col.chunks
    jumps = [(a, b) for a, b in zip(chunks, chunks[1:]) if b.first_index != a.first_index + len(a)]
    assert len(jumps) == 1, "exactly one gap, at the unplug"
    a, b = jumps[0]
    lost = b.first_index - (a.first_index + len(a))
    assert st.samples_lost == lost
    # The gap equals the time the armband was not streaming, at 200 Hz, and covers the unplug.
    gap_s = emu.truth_times(b.first_index, 1)[0] - emu.truth_times(a.first_index + len(a) - 1, 1)[0]
    assert lost == pytest.approx(gap_s * 200 - 1, abs=3)
    assert lost >= 0.5 * 200
    # After the reconnect the index was placed by the clock: values still match exactly.
    _check_values(emu, chunks)


def test_stop_during_streaming_sends_disconnect(emu):
    drv, col, st = _stream(emu, 0.3)
    keys = [(c, m) for c, m, _ in emu.commands]
    assert (3, 0) in keys[-3:]  # connection_disconnect at the end
    assert not emu.connected


def test_battery_notification_updates_status(emu):
    with _running(emu.port) as (drv, col):
        col.wait_total(20, 5.0)
        emu.set_battery(42)
        assert col.wait_for(lambda: drv.status().battery_pct == 42, 2.0)


def _start_until_error(port: str, timeout: float, **kw) -> MyoDriver:
    """Start a MyoDriver on ``port``, wait until it reports ERROR, stop it; returns the stopped driver."""
    with _running(port, **kw) as (drv, col):
        col.wait(lambda: DeviceState.ERROR in col.states, timeout, "the error state")
    return drv


def test_foreign_device_is_not_found():
    with PtyEmulator(name="other") as other:  # a port where nothing speaks BGAPI
        drv = _start_until_error(other.port, 5.0, response_timeout_s=0.3)
    err = drv.status().last_error
    assert "no BLED112" in err and other.port in err


def test_dongle_without_armband_is_not_found():
    with MyoEmulator(advertising=False) as emu:
        drv = _start_until_error(emu.port, 5.0, scan_timeout_s=0.4)
    assert "found no Myo" in drv.status().last_error


def test_missing_port_is_not_found():
    drv = _start_until_error("/nonexistent/ttyACM9", 3.0)
    assert "/nonexistent/ttyACM9" in drv.status().last_error


def test_bad_mode_is_rejected():
    with pytest.raises(ValueError, match="mode"):
        MyoDriver("/dev/null", mode="imu")


class _Subject:
    """Anything with emg(t) -> (n, 8) works; this one is easy to check by hand."""

    def emg(self, t):
        t = np.asarray(t, dtype=np.float64)
        return 60.0 * np.sin(2 * np.pi * 7.0 * t[:, None] + np.arange(8)[None, :])


def test_open_synthetic_myo_streams_the_subject():
    subject = _Subject()
    drv = open_synthetic_myo(subject=subject, seed=1)
    emu = drv.emulator
    col = Collector()
    try:
        drv.start(col, col.on_status)
        col.wait_total(200, 5.0)
        drv.stop()
        c = col.chunks[-1]
        expected = np.clip(np.rint(subject.emg(emu.truth_times(c.first_index, len(c)))), -128, 127)
        np.testing.assert_array_equal(c.x, expected.astype(np.int8))
        assert drv.describe()["emulated"] is True
    finally:
        drv.close()
    assert not os.path.exists(emu.port)  # the driver closed its emulator


@pytest.mark.slow
def test_timestamp_accuracy_20s():
    with MyoEmulator(seed=5, rate_error_ppm=60) as emu:
        drv, col, st = _stream(emu, 20.0)
    assert st.samples_lost == 0
    err = _timestamp_errors_ms(emu, col.chunks)
    med, p99 = np.median(err), np.percentile(err, 99)
    print(f"\nMyo raw 20 s, 60 ppm drift: timestamp error median {med:.3f} ms, p99 {p99:.3f} ms, "
          f"max {err.max():.3f} ms over {err.size} samples")
    assert p99 < 1.0


# -- issue 15: reconnects that meet every error, stalls, and the raw handle order ---------------------
def _one_gap(col, st):
    """The single index jump in the collected chunks, checked against the lost count: (lost, a, b)."""
    chunks = col.chunks
    jumps = [(a, b) for a, b in zip(chunks, chunks[1:]) if b.first_index != a.first_index + len(a)]
    assert len(jumps) == 1, f"expected one gap, got {len(jumps)}"
    a, b = jumps[0]
    lost = b.first_index - (a.first_index + len(a))
    assert st.samples_lost == lost
    return lost, a, b


def test_reconnect_retries_wrong_handles_until_the_dongle_is_fixed(emu):
    """Unplug, replug a dongle that answers attribute reads with the wrong handle: every handshake
    times out; the driver must keep retrying (never ERROR) and stream again once it is fixed, with
    the outage as one gap of the right length."""
    with _running(emu.port, response_timeout_s=0.3) as (drv, col):
        col.wait_total(200, 5.0)
        emu.unplug()
        time.sleep(0.3)
        emu.wrong_read_handle = True
        emu.replug()
        reads = lambda: sum(1 for c, m, _ in emu.commands if (c, m) == (4, 4))  # attclient_read_by_handle
        n0 = reads()
        col.wait(lambda: reads() >= n0 + 3, 10.0, "three failed handshakes")
        assert DeviceState.ERROR not in col.states
        assert "handle 0x17" in drv.status().last_error
        n_before = col.n
        emu.wrong_read_handle = False
        col.wait(lambda: col.states[-1] == DeviceState.STREAMING and col.n > n_before + 100, 10.0,
                 "streaming again after the fix")
        st = drv.status()
    assert DeviceState.ERROR not in col.states
    lost, a, b = _one_gap(col, st)
    gap_s = emu.truth_times(b.first_index, 1)[0] - emu.truth_times(a.first_index + len(a) - 1, 1)[0]
    assert lost == pytest.approx(gap_s * 200 - 1, abs=3)
    _check_values(emu, col.chunks)


def test_notifications_on_unknown_handles_are_a_stall(emu):
    """EMG notifications that keep coming on handles the driver does not know: the link is up and
    bytes flow, but nothing is usable. The driver must say stalled, count it, reconnect, and record
    the stall as a gap once data is usable again."""
    with _running(emu.port) as (drv, col):
        col.wait_total(200, 5.0)
        emu.emg_handle_offset = 0x40
        col.wait(lambda: drv.status().stalls >= 1, 5.0, "a stall")
        assert DeviceState.STALLED in col.states
        assert "stalled" in drv.status().last_error
        n_before = col.n
        emu.emg_handle_offset = 0
        col.wait(lambda: col.states[-1] == DeviceState.STREAMING and col.n > n_before + 100, 10.0,
                 "usable data again")
        st = drv.status()
    lost, a, b = _one_gap(col, st)
    assert lost >= 150  # at least the ~1 s until the stall was declared
    _check_values(emu, col.chunks)


@pytest.mark.parametrize("order", [(0x2E, 0x2B, 0x34, 0x31), (0x34, 0x31, 0x2E, 0x2B), (0x31, 0x2B, 0x34, 0x2E)])
def test_any_raw_handle_order_is_placed_exactly(order):
    with MyoEmulator(seed=5, raw_order=order) as emu:
        drv, col, st = _stream(emu, 2.0)
    assert st.samples_lost == 0 and st.bad_packets == 0
    starts = [c.first_index for c in col.chunks]
    ends = [c.first_index + len(c) for c in col.chunks]
    assert starts[0] == 0 and starts[1:] == ends[:-1]
    _check_values(emu, col.chunks)


def test_other_order_with_single_drops_is_counted_and_placed():
    with MyoEmulator(seed=6, raw_order=(0x31, 0x2B, 0x34, 0x2E)) as emu:
        emu.drop_prob = 0.05
        drv, col, st = _stream(emu, 3.0)
    dropped = drv.faults_at_status["dropped"]
    assert dropped > 5
    assert 2 * dropped - 4 <= st.samples_lost <= 2 * emu.faults["dropped"]
    _check_values(emu, col.chunks)


def test_no_fixed_rotation_falls_back_to_arrival_order():
    with MyoEmulator(seed=7, raw_order="random") as emu:
        drv, col, st = _stream(emu, 2.0)
        assert drv._order == {}
    assert st.samples_lost == 0
    _check_values(emu, col.chunks)


def test_learn_rotation():
    from recorder.sources.myo.driver import learn_rotation
    std = [0x2B, 0x2E, 0x31, 0x34] * 3
    assert learn_rotation(std) == {0x2B: 0, 0x2E: 1, 0x31: 2, 0x34: 3}
    other = [0x2E, 0x2B, 0x34, 0x31] * 3
    assert learn_rotation(other) == {0x2E: 0, 0x2B: 1, 0x34: 2, 0x31: 3}
    dropped = [0x2E, 0x2B, 0x34, 0x31, 0x2E, 0x34, 0x31, 0x2E, 0x2B, 0x34, 0x31, 0x2E, 0x2B]
    assert learn_rotation(dropped) == {0x2E: 0, 0x2B: 1, 0x34: 2, 0x31: 3}
    assert learn_rotation(std[:5]) is None
    assert learn_rotation([0x2B, 0x2B, 0x2E, 0x2E, 0x31, 0x31, 0x34, 0x34, 0x2B, 0x2B, 0x2E, 0x2E]) in ({}, None)


def test_a_stall_of_our_own_process_is_not_loss(emu):
    """The reader does not run for 0.3 s, then gets the CPU only in short slices for a while (a
    loaded host): the backlog drains slowly and every read is late. The rotation continues, so
    nothing was lost: no sample may be counted lost or placed at another index (issue 15: 16
    false losses, 19,188 of 24,001 misplaced under two CPU hogs)."""
    import serial

    drv = MyoDriver(emu.port)
    state = {"stall": False, "slow_until": 0.0}

    def _read_bytes():
        ser = drv._ser
        try:
            if state["stall"]:
                state["stall"] = False
                time.sleep(0.3)
                state["slow_until"] = time.monotonic() + 0.8
            if time.monotonic() < state["slow_until"]:
                time.sleep(0.015)  # a short slice of CPU every 15 ms, 100 bytes per slice
                data = ser.read(1)
                if data:
                    data += ser.read(min(ser.in_waiting, 99))
            else:
                data = ser.read(1)
                if data and ser.in_waiting:
                    data += ser.read(ser.in_waiting)
        except (serial.SerialException, OSError) as e:
            from recorder.sources.base import DeviceLost
            raise DeviceLost(str(e)) from e
        return data, time.monotonic()

    drv._read_bytes = _read_bytes
    col = Collector()
    drv.start(col, col.on_status)
    try:
        col.wait_total(400, 5.0)
        for _ in range(3):
            state["stall"] = True
            col.wait_more(400, 6.0)
        st = drv.status()
    finally:
        drv.stop()
    assert st.samples_lost == 0
    starts = [c.first_index for c in col.chunks]
    ends = [c.first_index + len(c) for c in col.chunks]
    assert starts[1:] == ends[:-1]
    _check_values(emu, col.chunks)
