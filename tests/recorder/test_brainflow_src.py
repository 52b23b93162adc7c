"""brainflow:BOARD source against BrainFlow's own SYNTHETIC_BOARD and PLAYBACK_FILE_BOARD (both ship
with the package, no hardware): descriptor-driven channels and units, continuous indices, loss from
the package number, stop/restart, a failure while streaming (reconnect, gap), and clear errors."""
import time

import numpy as np
import pytest

pytest.importorskip("brainflow", reason="pip install 'emgrec[devices]'")

from recorder.sources.factory import open_emg  # noqa: E402
from recorder.sources.brainflow import BrainFlowSource, board_id, list_boards, parse_spec  # noqa: E402
from recorder.core.types import DeviceState  # noqa: E402


def _collect(src, until, timeout=15.0):
    chunks = []
    src.start(chunks.append)
    end = time.monotonic() + timeout
    while time.monotonic() < end and not until(src, chunks):
        time.sleep(0.05)
    return chunks


def _indices(chunks):
    return np.concatenate([np.arange(c.first_index, c.first_index + len(c.x)) for c in chunks])


def _rows_of_synthetic(seconds=2.0):
    """Real synthetic-board rows (all 32), recorded through BrainFlow itself."""
    from brainflow.board_shim import BoardIds, BoardShim, BrainFlowInputParams
    b = BoardShim(BoardIds.SYNTHETIC_BOARD.value, BrainFlowInputParams())
    b.prepare_session()
    b.start_stream()
    time.sleep(seconds)
    data = b.get_board_data()
    b.stop_stream()
    b.release_session()
    return data


def _write(data, path):
    from brainflow.data_filter import DataFilter
    DataFilter.write_file(np.ascontiguousarray(data), str(path), "w")
    return path


def test_spec_parsing_and_board_names():
    assert parse_spec("SYNTHETIC_BOARD,serial_port=/dev/x, timeout=3") == (
        "SYNTHETIC_BOARD", {"serial_port": "/dev/x", "timeout": "3"})
    assert board_id("synthetic") == board_id("SYNTHETIC_BOARD") == board_id("-1")
    assert board_id("cyton") == 0 and board_id("ganglion") == 1
    with pytest.raises(ValueError, match="unknown BrainFlow board 'nosuch'.*CYTON_BOARD"):
        open_emg("brainflow:nosuch")
    with pytest.raises(ValueError, match="expected key=value"):
        open_emg("brainflow:synthetic,oops")
    with pytest.raises(ValueError, match="unknown brainflow option.*colour"):
        open_emg("brainflow:synthetic,colour=red")
    with pytest.raises(ValueError, match="needs file=PATH and master_board"):
        open_emg("brainflow:PLAYBACK_FILE_BOARD")
    names = {b[0] for b in list_boards()}
    assert {"SYNTHETIC_BOARD", "CYTON_BOARD", "GANGLION_BOARD"} <= names


def test_board_without_emg_channels_is_refused():
    from brainflow.board_shim import BoardShim
    no_emg = [b for b in ("MUSE_S_BOARD", "MUSE_2_BOARD", "BRAINBIT_BOARD")
              if not (BoardShim.get_board_descr(board_id(b)).get("emg_channels")
                      or BoardShim.get_board_descr(board_id(b)).get("exg_channels"))]
    assert no_emg, "expected at least one EEG-only board in BrainFlow"
    with pytest.raises(ValueError, match="has no EMG or EXG channels"):
        open_emg(f"brainflow:{no_emg[0]}")


def test_synthetic_board_streams_descriptor_channels_in_microvolts_stop_and_restart():
    from brainflow.board_shim import BoardShim
    d = BoardShim.get_board_descr(-1)
    src = open_emg("brainflow:SYNTHETIC_BOARD")
    assert isinstance(src, BrainFlowSource)
    assert src.sample_rate_hz == d["sampling_rate"] == 250
    assert src.channel_names == d["eeg_names"].split(",") and src.n_channels == len(d["emg_channels"])
    assert src.units == "uV" and src.scale_to_uV == 1.0
    try:
        chunks = _collect(src, lambda s, c: s.status().samples_received >= 300)
        assert src.status().state == DeviceState.STREAMING
        src.stop()
        assert src.status().state == DeviceState.STOPPED and not src.running
        idx = _indices(chunks)
        assert idx[0] == 0 and np.all(np.diff(idx) == 1)  # no loss on the synthetic board
        assert src.status().samples_lost == 0
        x = np.concatenate([c.x for c in chunks])
        assert x.dtype == np.float64 and x.shape[1] == 16 and np.std(x) > 1.0  # µV, not zeros
        t = np.concatenate([c.t for c in chunks])
        assert abs((t[-1] - t[0]) - (idx[-1] - idx[0]) / 250.0) < 0.05  # the clock runs at the board's rate
        n1 = len(idx)
        # restart the same source: indices go on, the stopped time is a recorded gap, not new samples
        time.sleep(0.5)
        more = _collect(src, lambda s, c: s.status().samples_received >= n1 + 200)
        src.stop()
        idx2 = _indices(more)
        assert idx2[0] > idx[-1] + 1
        assert src.status().samples_lost == idx2[0] - idx[-1] - 1 > 0
        t2 = np.concatenate([c.t for c in more])
        assert t2[0] > t[-1] + 0.3  # the pause is where it was on the clock
    finally:
        src.stop()
        src.close()


def test_playback_counts_loss_from_the_package_number_sample_exact(tmp_path):
    data = _rows_of_synthetic(1.5)
    assert data.shape[1] > 300
    cut = np.r_[0:100, 110:data.shape[1]]  # ten packages missing
    f = _write(data[:, cut], tmp_path / "rec.csv")
    src = open_emg(f"brainflow:PLAYBACK_FILE_BOARD,file={f},master_board=SYNTHETIC_BOARD")
    try:
        n_want = len(cut)
        chunks = _collect(src, lambda s, c: s.status().samples_received >= n_want)
    finally:
        src.stop()
        src.close()
    idx = _indices(chunks)[:n_want]
    x = np.concatenate([c.x for c in chunks])[:n_want]
    assert src.status().samples_lost >= 10
    # index = package position in the original stream; the values are the file's, bit for bit
    from brainflow.data_filter import DataFilter
    stored = DataFilter.read_file(str(f))  # the file keeps 6 decimals
    np.testing.assert_array_equal(idx - idx[0], cut)
    np.testing.assert_array_equal(x, stored[1:17].T)


def test_failure_while_streaming_reconnects_and_records_a_gap(tmp_path):
    src = open_emg("brainflow:synthetic")
    src.lost_after_s = 0.5
    src.reconnect_interval_s = 0.2
    states = []
    chunks = []
    src.start(chunks.append, on_status=lambda s: states.append(s.state))
    try:
        end = time.monotonic() + 10
        while src.status().samples_received < 200 and time.monotonic() < end:
            time.sleep(0.05)
        n0 = src.status().samples_received
        src._shim.release_session()  # the board goes away under the reader (as an unplugged dongle)
        time.sleep(0.3)
        while src.status().samples_received < n0 + 200 and time.monotonic() < end + 5:
            time.sleep(0.05)
        st = src.status()
    finally:
        src.stop()
        src.close()
    assert st.reconnects >= 1 and DeviceState.RECONNECTING in states
    assert st.state == DeviceState.STREAMING and st.samples_received >= n0 + 200
    assert "BrainFlow" in st.last_error
    idx = _indices(chunks)
    jumps = np.flatnonzero(np.diff(idx) != 1)
    assert len(jumps) >= 1 and np.all(np.diff(idx) > 0)  # a gap, never overlapping indices
    assert st.samples_lost == int(np.sum(np.diff(idx)[jumps] - 1))


def test_playback_of_a_missing_file_is_a_clear_error(tmp_path):
    src = open_emg(f"brainflow:PLAYBACK_FILE_BOARD,file={tmp_path / 'nope.csv'},master_board=synthetic")
    src.start(lambda c: None)
    end = time.monotonic() + 10
    while src.status().state != DeviceState.ERROR and time.monotonic() < end:
        time.sleep(0.05)
    src.stop()
    st = src.status()
    assert st.state == DeviceState.ERROR
    assert "could not open PLAYBACK_FILE_BOARD" in st.last_error and "nope.csv" in st.last_error


def test_cli_records_a_session_from_the_synthetic_board(tmp_path):
    from recorder.cli.emgrec import main
    from recorder.session.format import SessionReader
    out = tmp_path / "bf.h5"
    assert main(["record", "--emg", "brainflow:synthetic", "--camera", "none", "--duration", "1.5",
                 "--out", str(out)]) == 0
    with SessionReader(out) as r:
        assert r.sample_rate_hz == 250 and r.units == "uV" and r.channel_names[0] == "Fz"
        assert r.emg_data.shape[0] > 200 and r.emg_data.dtype == np.float64
        assert r.attrs["device"]["kind"] == "brainflow"


def test_devices_command_lists_brainflow_boards(capsys):
    from recorder.cli.emgrec import main
    assert main(["devices", "--all"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC_BOARD" in out and "GANGLION_BOARD" in out

