"""CSV importers on the real datasets and on malformed files."""

from __future__ import annotations

import numpy as np
import pytest

from recorder.imports.tables import ImportFormatError, import_csv, import_myo_readings, import_neurotron
from recorder.session.format import SessionReader


def _lines(path):
    return [ln for ln in path.read_text().splitlines() if ln.strip()]


def test_myo_readings_file(shared_data, tmp_path):
    src = shared_data / "emg/myo-readings/_readings_right_hand/12345-1/3.txt"
    raw = np.array([[int(v) for v in ln.split(",")] for ln in _lines(src)])
    out = import_myo_readings(src, tmp_path / "m.h5")
    with SessionReader(out) as r:
        assert r.n_samples == len(raw) and 11_000 < len(raw) < 13_000
        assert r.emg_data.dtype == np.int8 and np.array_equal(np.asarray(r.emg_data), raw[:, :8])
        assert r.sample_rate_hz == 200 and np.allclose(np.diff(r.emg_t), 1 / 200)
        labels = r.labels
        names = [n for _, _, n in labels]
        assert set(names) == {"rest", "radial deviation"}
        assert all(a != b for a, b in zip(names, names[1:]))  # runs alternate
        inner = [e - s for s, e, _ in labels[1:-1]]
        assert all(abs(d - 5.0) < 0.5 for d in inner)  # 5 s each
        # Segments cover exactly the samples that carried each code.
        s, e, n = labels[1]
        sel = (r.emg_t >= s) & (r.emg_t < e)
        assert set(raw[sel, 8]) == {3 if n == "radial deviation" else 0}


def test_myo_readings_folder_is_one_session_with_gaps(shared_data, tmp_path):
    folder = shared_data / "emg/myo-readings/_readings_left_hand/44444-1"
    counts = [len(_lines(folder / f"{k}.txt")) for k in range(8)]
    out = import_myo_readings(folder, tmp_path / "s.h5")
    with SessionReader(out) as r:
        assert r.n_samples == sum(counts)
        assert len(r.gaps) == 7
        b = np.cumsum(counts)[:-1]  # first sample of files 1..7
        assert np.allclose(r.gaps[:, 1], r.emg_t[b]) and np.allclose(r.gaps[:, 0], r.emg_t[b - 1] + 1 / 200)
        names = {n for _, _, n in r.labels}
        assert names == {"rest", "wrist flexion", "wrist extension", "radial deviation", "ulnar deviation",
                         "pronation", "supination", "fist"}
        assert r.attrs["hand"] == "left" and r.attrs["device"]["kind"] == "myo"


@pytest.mark.parametrize("name, tcol", [("emg50.csv", 8), ("emg_data_001_alex.csv", 0)])
def test_neurotron_keeps_timestamps(shared_data, tmp_path, name, tcol):
    src = shared_data / "emg/neurotron" / name
    rows = [ln.split(",") for ln in _lines(src)]
    if not rows[0][0].replace(".", "").isdigit():
        rows = rows[1:]
    vals = np.array(rows, dtype=np.float64)
    ts = vals[:, tcol]
    out = import_neurotron(src, tmp_path / "n.h5")
    with SessionReader(out) as r:
        assert r.n_samples == len(vals) and r.emg_data.dtype == np.uint16
        assert np.array_equal(np.asarray(r.emg_data), np.delete(vals, tcol, axis=1).astype(np.uint16))
        assert np.allclose(r.emg_t, ts - ts[0], atol=1e-6)
        assert r.attrs["source_start_time"] == ts[0]
        assert 45 < r.summary()["measured_rate_hz"] < 55


def test_generic_csv_with_header_time_and_labels(tmp_path):
    src = tmp_path / "g.csv"
    src.write_text("time_ms;a;b;lab\n0;1.5;-2;0\n10;2.5;-3;0\n20;3.5;-4;1\n30;4.5;-5;1\n200;5.5;-6;0\n")
    out = import_csv(src, tmp_path / "g.h5", emg_columns="a,b", time_column="time_ms", time_unit="ms",
                     label_column="lab", label_names={0: "rest", 1: "fist"}, delimiter=";", scale_to_uV=0.5)
    with SessionReader(out) as r:
        assert r.channel_names == ["a", "b"] and r.emg_data.dtype == np.float32 and r.scale_to_uV == 0.5
        assert np.allclose(r.emg_t, [0, 0.01, 0.02, 0.03, 0.2])
        assert [n for *_, n in r.labels] == ["rest", "fist", "rest"]
        assert len(r.gaps) == 1 and r.gaps[0, 1] == pytest.approx(0.2)


@pytest.mark.parametrize("text, msg", [
    ("1,2,3\n4,5,6\n7,8\n", "bad.csv line 3: expected 3 fields, got 2"),
    ("1,2,3\n4,x,6\n", "bad.csv line 2: field 2 is not a number"),
    ("", "bad.csv: no data rows"),
])
def test_malformed_csv_names_line_and_leaves_nothing(tmp_path, text, msg):
    src = tmp_path / "bad.csv"
    src.write_text(text)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(ImportFormatError) as ei:
        import_csv(src, out_dir / "x.h5", sample_rate_hz=100, emg_columns="0-2")
    assert msg in str(ei.value)
    assert list(out_dir.iterdir()) == []


def test_myo_readings_bad_line(tmp_path):
    src = tmp_path / "0.txt"
    src.write_text("1,2,3,4,5,6,7,8,0\n" * 5 + "1,2,3,4,5,6,7,300,0\n")
    with pytest.raises(ImportFormatError, match=r"0.txt line 6: EMG values must be int8"):
        import_myo_readings(src, tmp_path / "o.h5")
    assert not any(p.suffix in (".h5", ".part") for p in tmp_path.iterdir())


def test_cli_import(shared_data, tmp_path, capsys):
    from recorder.cli.emgrec import main
    out = tmp_path / "c.h5"
    assert main(["import", str(shared_data / "emg/neurotron/emg50.csv"), "--format", "csv", "--emg-columns", "0-7",
                 "--time-column", "ts", "--out", str(out)]) == 0
    assert "3083 samples" in capsys.readouterr().out
    assert main(["import", str(shared_data / "emg/neurotron/emg50.csv"), "--format", "neurotron",
                 "--out", str(out)]) == 1  # exists
    assert "exists" in capsys.readouterr().err
