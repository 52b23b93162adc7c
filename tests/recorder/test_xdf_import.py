"""emgrec import REC.xdf: XDF files written here (tests/recorder/xdf_writer.py) become sessions:
EMG by type or name, channel labels and µV, pyxdf clock offsets applied, markers and labels, gaps,
content-based detection, and clear errors (no EMG stream, several, not XDF)."""
import numpy as np
import pytest

pytest.importorskip("pyxdf", reason="pip install 'emgrec[formats]'")

from recorder.cli.emgrec import main  # noqa: E402
from recorder.imports.tables import ImportFormatError  # noqa: E402
from recorder.session.format import SessionReader  # noqa: E402
from recorder.imports.xdf import import_xdf, is_xdf, markers_to_labels  # noqa: E402

from .xdf_writer import XdfWriter  # noqa: E402

RATE = 200.0


def _recording(path, *, emg_type="EMG", offset_emg=0.0, offset_mk=0.0, hole=None, second_emg=False):
    """EMG (8 ch int16, 3 s at 200 Hz, LSL times from 100 s) and a marker stream. The EMG device's
    clock runs ``offset_emg`` behind the recorder (ClockOffset chunks say so), markers ``offset_mk``."""
    w = XdfWriter()
    labels = [f"EMG{i}" for i in range(1, 9)]
    w.stream(1, "Myo-EMG", emg_type, 8, RATE, "int16", labels=labels, unit="microvolts")
    w.stream(2, "Task-Markers", "Markers", 1, 0, "string")
    n = int(3 * RATE)
    ts = 100.0 + np.arange(n) / RATE
    x = (np.arange(n * 8).reshape(n, 8) % 200 - 100).astype(np.int16)
    keep = np.ones(n, bool)
    if hole:
        keep[hole[0]:hole[1]] = False
    ts, x = ts[keep], x[keep]
    dev_ts = ts - offset_emg  # the device's own clock
    for a in range(0, len(ts), 100):
        w.samples(1, dev_ts[a:a + 100], x[a:a + 100], "int16")
    mk = [(100.5, "start:fist"), (101.25, "end:fist"), (101.5, "note: tired"), (102.0, "rest_start"), (102.5, "rest_end")]
    w.samples(2, [t - offset_mk for t, _ in mk], [[m] for _, m in mk], "string")
    for ct in (99.0, 101.0, 103.5):
        w.clock_offset(1, ct, offset_emg)
        w.clock_offset(2, ct, offset_mk)
    if second_emg:
        w.stream(3, "Other-EMG", "EMG", 2, RATE, "float32")
        w.samples(3, ts[:10], np.zeros((10, 2)), "float32")
    w.footer(1, dev_ts[0], dev_ts[-1], len(ts), RATE)
    w.save(path)
    return ts, x


def test_import_emg_markers_labels_with_clock_offsets(tmp_path):
    f = tmp_path / "rec.xdf"
    ts, x = _recording(f, offset_emg=-2.0, offset_mk=0.75)
    assert is_xdf(f)
    out = import_xdf(f, tmp_path / "s.h5", subject="p1")
    with SessionReader(out) as r:
        assert r.channel_names == [f"EMG{i}" for i in range(1, 9)]
        assert r.units == "uV" and r.scale_to_uV == 1.0 and r.sample_rate_hz == RATE
        np.testing.assert_array_equal(r.emg_data[:], x)
        assert r.emg_data.dtype == np.int16
        t = r.emg_t
        np.testing.assert_allclose(t, ts - ts[0], atol=1e-9)
        # after the offsets are applied, the markers land where they were on the recorder's clock
        mk = r.markers
        assert [m for _, m in mk] == ["start:fist", "end:fist", "note: tired", "rest_start", "rest_end"]
        np.testing.assert_allclose([m[0] for m in mk], [0.5, 1.25, 1.5, 2.0, 2.5], atol=1e-6)
        labels = r.labels
        assert [(round(a, 6), round(b, 6), n) for a, b, n in labels] == [(0.5, 1.25, "fist"), (2.0, 2.5, "rest")]
        assert r.attrs["device"]["kind"] == "xdf" and r.attrs["device"]["stream"] == "Myo-EMG"


def test_without_offsets_the_markers_would_be_elsewhere(tmp_path):
    # the same file with no offset on the marker stream: the marker times differ by the offset
    _recording(tmp_path / "a.xdf", offset_emg=0.0, offset_mk=0.75)
    _recording(tmp_path / "b.xdf", offset_emg=0.0, offset_mk=0.0)
    with SessionReader(import_xdf(tmp_path / "a.xdf", tmp_path / "a.h5")) as a, \
            SessionReader(import_xdf(tmp_path / "b.xdf", tmp_path / "b.h5")) as b:
        np.testing.assert_allclose([m[0] for m in a.markers], [m[0] for m in b.markers], atol=1e-6)


def test_holes_are_gaps_and_stream_choice(tmp_path):
    f = tmp_path / "rec.xdf"
    _recording(f, hole=(200, 260), second_emg=True)
    with pytest.raises(ImportFormatError, match="several streams match: 'Myo-EMG'.*'Other-EMG'.*--stream"):
        import_xdf(f, tmp_path / "x.h5")
    with pytest.raises(ImportFormatError, match="no numeric stream named or typed 'Nope'.*Task-Markers"):
        import_xdf(f, tmp_path / "x.h5", stream="Nope")
    out = import_xdf(f, tmp_path / "s.h5", stream="Myo-EMG")
    with SessionReader(out) as r:
        g = r.gaps
        assert len(g) == 1
        np.testing.assert_allclose(g[0], [200 / RATE, 260 / RATE], atol=1e-6)
        assert r.n_samples == 600 - 60


def test_xdf_without_emg_is_a_clear_error(tmp_path):
    w = XdfWriter()
    w.stream(1, "Markers", "Markers", 1, 0, "string")
    w.samples(1, [1.0], [["hello"]], "string")
    w.save(tmp_path / "m.xdf")
    with pytest.raises(ImportFormatError, match=r"m.xdf: no EMG stream .*'Markers'.*--stream"):
        import_xdf(tmp_path / "m.xdf", tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_cli_detects_xdf_by_content(tmp_path, capsys):
    f = tmp_path / "recording.dat"  # no .xdf suffix: the content decides
    _recording(f)
    out = tmp_path / "s.h5"
    assert main(["import", str(f), "--out", str(out), "--label-names", "start:fist,rest_start"]) == 0
    assert "600 samples x 8 channels" in capsys.readouterr().out
    with SessionReader(out) as r:
        assert [n for _, _, n in r.labels] == ["start:fist", "rest_start"]
    (tmp_path / "plain.txt").write_text("1,2,3\n")
    assert main(["import", str(tmp_path / "plain.txt"), "--out", str(tmp_path / "p.h5")]) == 1
    assert "cannot tell its format by content" in capsys.readouterr().err


def test_vocabulary_labels():
    mk = [(0.0, "rest"), (1.0, "fist"), (2.0, "other"), (3.0, "rest")]
    assert markers_to_labels(mk, 4.0, ["rest", "fist"]) == [(0.0, 1.0, "rest"), (1.0, 3.0, "fist"), (3.0, 4.0, "rest")]


def test_landmark_stream_becomes_frames_with_landmarks(tmp_path):
    f = tmp_path / "rec.xdf"
    w = XdfWriter()
    w.stream(1, "EMG", "EMG", 8, RATE, "int8")
    ts = 10.0 + np.arange(400) / RATE
    w.samples(1, ts, np.zeros((400, 8)), "int8")
    w.stream(2, "emgrec-Hand", "MoCap", 63, 30.0, "float32")
    ft = 10.05 + np.arange(50) / 30.0
    pose = np.random.default_rng(0).normal(0, 40, (50, 63)).astype(np.float32)
    pose[7] = np.nan  # a frame without a hand
    w.samples(2, ft, pose, "float32")
    w.save(f)
    with SessionReader(import_xdf(f, tmp_path / "s.h5")) as r:
        assert r.n_frames == 50
        np.testing.assert_allclose(r.video_t, ft - ts[0], atol=1e-6)
        world = np.asarray(r.landmarks_world[:]).reshape(50, 63)
        np.testing.assert_allclose(world[~np.isnan(pose[:, 0])], pose[~np.isnan(pose[:, 0])], atol=1e-4)
        assert not r.has_hand()[7] and r.has_hand().sum() == 49
        assert not r.has_image().any() and r.attrs["video_storage"] == "none"  # no placeholder pictures
        assert r.attrs["device"]["landmark_stream"] == "emgrec-Hand"
