"""Conformance: clients known to work with the real devices read our emulators sample-exact, so an
emulator change that real clients would not accept fails here. pyomyo (BLED112 BGAPI, raw 200 Hz)
against the Myo emulator; BrainFlow's native Cyton driver against the Cyton emulator."""
import threading
import time

import numpy as np
import pytest


def test_pyomyo_reads_the_myo_emulator_sample_exact():
    pyomyo = pytest.importorskip("pyomyo", reason="pip install 'emgrec[devices]'")
    from recorder.sources.myo.emulator import MyoEmulator

    got = []
    errors = []
    with MyoEmulator(seed=5) as emu:
        m = pyomyo.Myo(tty=emu.port, mode=pyomyo.emg_mode.RAW)
        m.add_emg_handler(lambda emg, moving: got.append(emg))
        battery = []
        m.add_battery_handler(battery.append)

        def run():  # pyomyo reads without a timeout: it runs until the emulator closes its port
            try:
                m.connect()
                while len(got) < 400:
                    m.run()
            except Exception as e:  # the port closing under it at the end of the test
                errors.append(e)

        th = threading.Thread(target=run, daemon=True)
        th.start()
        end = time.monotonic() + 20
        while len(got) < 400 and time.monotonic() < end:
            time.sleep(0.05)
        n = len(got)
        assert n >= 400, f"pyomyo got {n} samples; errors: {errors}"
        truth = emu.sent_values(0, 400)
        assert emu.sleep_mode == 1 and emu.emg_mode == 0x03  # pyomyo's never-sleep and raw mode
    th.join(2)
    np.testing.assert_array_equal(np.asarray(got[:400], np.int8), truth)


def test_brainflow_cyton_driver_reads_the_cyton_emulator_sample_exact():
    bf = pytest.importorskip("brainflow.board_shim", reason="pip install 'emgrec[devices]'")
    from recorder.sources.brainflow import _brainflow
    from recorder.sources.cyton.emulator import UV_PER_COUNT, CytonEmulator

    _brainflow()  # quiet BrainFlow's logger
    with CytonEmulator(seed=4) as emu:
        p = bf.BrainFlowInputParams()
        p.serial_port = emu.port
        board = bf.BoardShim(bf.BoardIds.CYTON_BOARD.value, p)
        board.prepare_session()
        try:
            board.start_stream()
            end = time.monotonic() + 15
            while board.get_board_data_count() < 500 and time.monotonic() < end:
                time.sleep(0.05)
            data = board.get_board_data()
            board.stop_stream()
        finally:
            board.release_session()
        d = bf.BoardShim.get_board_descr(bf.BoardIds.CYTON_BOARD.value)
        uv = data[d["eeg_channels"]].T
        pkg = data[d["package_num_channel"]].astype(int)
        assert len(uv) >= 500
        counts = np.round(uv / UV_PER_COUNT).astype(np.int64)
        np.testing.assert_allclose(counts * UV_PER_COUNT, uv, atol=1e-6)  # BrainFlow's µV = counts x our scale
        assert np.all(np.diff(pkg) % 256 == 1)  # no packet lost or reordered
        # BrainFlow's first row is some stream sample g0; from there every value matches the log
        n = len(counts)
        g0 = next((g for g in range(0, 200) if np.array_equal(counts[:20], emu.sent_counts(g, 20))), None)
        assert g0 is not None, "BrainFlow's samples are not the emulator's"
        np.testing.assert_array_equal(counts, emu.sent_counts(g0, n))
