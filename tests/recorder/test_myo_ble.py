"""myo-ble[:MAC]: the bleak transport against a fake bleak client (tests/recorder/fake_bleak.py; no
Bluetooth hardware here) running the shared Myo GATT sequence: sample-exact raw EMG, loss from the
round-robin, reconnect with a gap, choice by MAC among several, a non-Myo refused, no adapter."""
import time

import numpy as np
import pytest

pytest.importorskip("bleak", reason="pip install 'emgrec[devices]'")

from recorder.sources.myo import gatt as myo_gatt  # noqa: E402
from recorder.sources.factory import open_emg  # noqa: E402
from recorder.sources.myo.ble import MyoBleSource  # noqa: E402
from recorder.core.types import DeviceState  # noqa: E402

from .fake_bleak import FakeClient, FakeMyo, FakeScanner, truth  # noqa: E402


def _source(myos, address=None, fail=None):
    sc = FakeScanner(myos, fail)
    return MyoBleSource(address, client_factory=FakeClient.factory(sc), scanner=sc)


def _run(src, until, timeout=10.0):
    chunks = []
    src.start(chunks.append)
    end = time.monotonic() + timeout
    while time.monotonic() < end and not until(src, chunks):
        time.sleep(0.02)
    return chunks


def _idx(chunks):
    return np.concatenate([np.arange(c.first_index, c.first_index + len(c.x)) for c in chunks])


def test_streams_raw_emg_sample_exact_with_the_shared_gatt_sequence():
    m = FakeMyo("AA:BB:CC:DD:EE:01")
    m.drop = {30, 31, 50}  # notifications lost over the air (2 + 2 + 2 samples)
    src = _source([m])
    try:
        chunks = _run(src, lambda s, c: s.status().samples_received >= 200)
        st = src.status()
    finally:
        src.stop()
    assert st.state == DeviceState.STOPPED or st.state == DeviceState.STREAMING
    assert st.info["firmware"] == "1.5.1970" and st.info["name"] == "Myo" and st.battery_pct == 77
    # the commands are the shared layer's, in its order; EMG off on stop
    assert m.commands[0] == myo_gatt.sleep_mode(True) and m.commands[1] == myo_gatt.set_mode(myo_gatt.EMG_MODE_RAW)
    assert m.commands[-1] == myo_gatt.set_mode(myo_gatt.EMG_MODE_OFF)
    idx = _idx(chunks)
    x = np.concatenate([c.x for c in chunks])
    assert x.dtype == np.int8 and x.shape[1] == 8
    first_j = m.sent[0]
    # indices are the armband's sample numbers relative to the first notification, values exact
    np.testing.assert_array_equal(x, truth(idx - idx[0] + 2 * first_j))
    assert st.samples_lost == 6 and len(idx) == 2 * len(m.sent)
    # times from the shared clock fit: near when the fake armband took each sample (same host clock;
    # the fit starts from arrival times, so allow scheduling delay on a loaded machine)
    t = np.concatenate([c.t for c in chunks])
    taken = m.t_origin + (idx - idx[0] + 2 * first_j + 1) / 200.0
    assert np.median(np.abs(t - taken)) < 0.05


def test_reconnects_after_the_link_drops_and_records_a_gap():
    m = FakeMyo("AA:BB:CC:DD:EE:02")
    m.drop_link_at = 60
    src = _source([m])
    src.reconnect_interval_s = 0.3
    states = []
    chunks = []
    src.start(chunks.append, on_status=lambda s: states.append(s.state))
    try:
        end = time.monotonic() + 10
        while time.monotonic() < end and not (src.status().reconnects >= 1 and src.status().samples_received > 300):
            time.sleep(0.02)
        st = src.status()
    finally:
        src.stop()
    assert st.reconnects >= 1 and DeviceState.RECONNECTING in states and "disconnected" in st.last_error
    idx = _idx(chunks)
    assert np.all(np.diff(idx) > 0)
    jump = int(np.max(np.diff(idx))) - 1
    # the outage (reconnect interval + reconnect) is a gap of about its length in samples
    sent = np.asarray(m.sent)
    true_gap = 2 * (int(sent[np.flatnonzero(np.diff(sent) > 1)[0] + 1]) - int(sent[np.flatnonzero(np.diff(sent) > 1)[0]]) - 1)
    # placed by the clock from arrival times: never early, late by the scheduling delay at most
    assert -2 <= jump - true_gap <= 20, (jump, true_gap)
    assert st.samples_lost == int(np.sum(np.diff(idx) - 1))


def test_chooses_the_armband_by_mac_and_refuses_a_non_myo():
    a, b = FakeMyo("AA:00:00:00:00:0A", "Myo A", rssi=-40), FakeMyo("AA:00:00:00:00:0B", "Myo B", rssi=-80)
    hr = FakeMyo("AA:00:00:00:00:0C", "HR strap", is_myo=False)
    src = _source([a, b, hr], address="AA:00:00:00:00:0B")
    try:
        _run(src, lambda s, c: s.status().samples_received >= 20)
        assert src.status().info["name"] == "Myo B" and b.sent and not a.sent
    finally:
        src.stop()
    src = _source([a, b, hr])  # no MAC: the strongest Myo, never the heart-rate strap
    try:
        _run(src, lambda s, c: s.status().samples_received >= 20)
        assert src.status().info["name"] == "Myo A"
    finally:
        src.stop()
    src = _source([a, b, hr], address="AA:00:00:00:00:0C")
    _run(src, lambda s, c: s.status().state == DeviceState.ERROR)
    src.stop()
    assert "is not a Myo armband" in src.status().last_error


def test_no_adapter_and_no_myo_are_clear_errors():
    src = _source([], fail=FileNotFoundError(2, "No such file or directory"))
    _run(src, lambda s, c: s.status().state == DeviceState.ERROR)
    src.stop()
    assert "no Bluetooth adapter" in src.status().last_error and "myo:PORT" in src.status().last_error
    src = _source([FakeMyo("AA:00:00:00:00:0C", is_myo=False)])
    src.scan_timeout_s = 0.1
    _run(src, lambda s, c: s.status().state == DeviceState.ERROR)
    src.stop()
    assert "no Myo armband seen" in src.status().last_error


def test_spec_and_devices_listing_without_an_adapter(capsys):
    assert isinstance(open_emg("myo-ble"), MyoBleSource)
    assert open_emg("myo-ble:AA:BB:CC:DD:EE:FF").address == "AA:BB:CC:DD:EE:FF"
    from recorder.cli.emgrec import main
    assert main(["devices"]) == 0  # this machine has no Bluetooth: a line says so, nothing breaks
    err = capsys.readouterr().err
    assert "Myo over Bluetooth:" in err
