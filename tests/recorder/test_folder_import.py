"""Dataset folders with class/repetition in the file name, binary .dat, named labels (issue 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recorder.imports.folder import find_recordings, import_folder, pattern_regex
from recorder.imports.tables import ImportFormatError
from recorder.session.format import SessionReader

ROOT = Path(__file__).resolve().parents[2]


def _text_dataset(root: Path, subjects=("s1", "s2"), reps=2, classes=3, n=50):
    for s in subjects:
        (root / s).mkdir(parents=True)
        for r in range(1, reps + 1):
            for c in range(classes):
                x = np.full((n, 4), c) + np.arange(n)[:, None] % 5
                np.savetxt(root / s / f"R_{r}_C_{c}.csv", x, fmt="%d", delimiter=",",
                           header="a,b,c,d", comments="")
    (root / "s1" / "notes.txt").write_text("not a recording")


def test_pattern_fields():
    rx = pattern_regex("R_{rep}_C_{class}.csv")
    assert rx.match("R_3_C_10.csv").groupdict() == {"rep": "3", "cls": "10"}
    assert rx.match("R_3_C_10.csv.bak") is None


def test_one_session_per_folder_with_gaps_and_named_labels(tmp_path):
    _text_dataset(tmp_path / "d")
    out = tmp_path / "out"
    paths = import_folder(tmp_path / "d", out, pattern="R_{rep}_C_{class}.csv", sample_rate_hz=100,
                          label_names={0: "rest", 1: "fist", 2: "pinch"})
    assert sorted(p.name for p in paths) == ["s1.h5", "s2.h5"]
    with SessionReader(out / "s1.h5") as r:
        assert r.n_samples == 6 * 50 and len(r.gaps) == 5
        names = [n for *_, n in r.labels]
        assert names == ["rest", "fist", "pinch"] * 2
        # No label segment reaches into a gap: each ends one period after its recording's last sample.
        for (s, e, _), (g0, g1) in zip(r.labels, r.gaps):
            assert e <= g0 + 1e-9
        assert r.summary()["measured_rate_hz"] == pytest.approx(100.0)
        assert '"rep": "2"' in r.attrs["recordings"]


def test_one_session_per_recording_and_overwrite_refused(tmp_path):
    _text_dataset(tmp_path / "d", subjects=("s1",), reps=1, classes=2)
    paths = import_folder(tmp_path / "d", tmp_path / "o", pattern="R_{rep}_C_{class}.csv", sample_rate_hz=50, per="recording")
    assert sorted(p.name for p in paths) == ["R_1_C_0.h5", "R_1_C_1.h5"]
    with pytest.raises(FileExistsError, match="--force"):
        import_folder(tmp_path / "d", tmp_path / "o", pattern="R_{rep}_C_{class}.csv", sample_rate_hz=50, per="recording")


def test_binary_dat_int16(tmp_path):
    d = tmp_path / "dat"
    d.mkdir()
    for c in range(2):
        x = (np.arange(80).reshape(10, 8) * (c + 1) - 300).astype("<i2")
        x.tofile(d / f"classe_{c}.dat")
    [p] = import_folder(d, tmp_path / "s.h5", pattern="classe_{class}.dat", sample_rate_hz=1000, channels=8)
    with SessionReader(p) as r:
        assert r.emg_data.dtype == np.int16 and r.n_samples == 20
        np.testing.assert_array_equal(np.asarray(r.emg_data[:10]), np.arange(80).reshape(10, 8) - 300)
        assert [n for *_, n in r.labels] == ["0", "1"]
    (d / "classe_2.dat").write_bytes(b"\x01\x00" * 7)
    with pytest.raises(ImportFormatError, match=r"classe_2.dat: 7 int16 values are not a whole number of 8-channel"):
        import_folder(d, tmp_path / "t.h5", pattern="classe_{class}.dat", sample_rate_hz=1000, channels=8)


def test_bad_text_recording_names_file_and_line(tmp_path):
    _text_dataset(tmp_path / "d", subjects=("s1",), reps=1, classes=2)
    f = tmp_path / "d" / "s1" / "R_1_C_1.csv"
    rows = f.read_text().splitlines()
    rows[6] = "1,2,x,4"
    f.write_text("\n".join(rows) + "\n")
    with pytest.raises(ImportFormatError, match=r"R_1_C_1.csv line 7: field 3 is not a finite number: 'x'"):
        import_folder(tmp_path / "d", tmp_path / "o.h5", pattern="R_{rep}_C_{class}.csv", sample_rate_hz=100)
    rows[6] = "1,2,3,4,5"
    f.write_text("\n".join(rows) + "\n")
    with pytest.raises(ImportFormatError, match=r"R_1_C_1.csv line 7: expected 4 fields, got 5"):
        import_folder(tmp_path / "d", tmp_path / "o.h5", pattern="R_{rep}_C_{class}.csv", sample_rate_hz=100)
    assert not (tmp_path / "o.h5").exists()
    with pytest.raises(ImportFormatError, match="no file matches"):
        find_recordings(tmp_path / "d", "nothing_{class}.csv")


def test_cli_pattern_glob(tmp_path):
    _text_dataset(tmp_path / "d", subjects=("s1",), reps=1, classes=2)
    r = subprocess.run([sys.executable, "-m", "recorder", "import", str(tmp_path / "d" / "*" / "*.csv"),
                        "--pattern", "R_{rep}_C_{class}.csv", "--rate", "100", "--label-names", "0=rest,1=fist",
                        "--out", str(tmp_path / "s.h5")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "2 labels, 1 gaps" in r.stdout
