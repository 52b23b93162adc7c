"""Streaming CSV import (issue 10 labels, issue 15 import streams): chunk boundaries, text labels,
named codes, dtype widening, non-finite values and bad rates refused naming file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recorder.imports.tables import ImportFormatError, import_csv
from recorder.session.format import SessionReader

ROOT = Path(__file__).resolve().parents[2]


def _csv(path, rows, header="t,a,b,label"):
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def test_chunks_give_the_same_session_as_one_read(tmp_path):
    rows = [(i / 100, i % 7, -(i % 5), "fist" if (i // 50) % 2 else "rest") for i in range(1000)]
    src = _csv(tmp_path / "s.csv", rows)
    a = import_csv(src, tmp_path / "a.h5", emg_columns="a,b", time_column="t", label_column="label")
    b = import_csv(src, tmp_path / "b.h5", emg_columns="a,b", time_column="t", label_column="label", chunk_rows=37)
    with SessionReader(a) as ra, SessionReader(b) as rb:
        assert ra.n_samples == rb.n_samples == 1000 and ra.emg_data.dtype == np.int8
        np.testing.assert_array_equal(np.asarray(ra.emg_data), np.asarray(rb.emg_data))
        np.testing.assert_array_equal(ra.emg_t, rb.emg_t)
        assert ra.labels == rb.labels
        assert [n for *_, n in ra.labels][:3] == ["rest", "fist", "rest"] and len(ra.labels) == 20
        assert ra.sample_rate_hz == pytest.approx(100.0)


def test_text_labels_and_named_codes(tmp_path):
    src = _csv(tmp_path / "s.csv", [(i / 10, i, 0, "Hand_Close" if i >= 5 else "Rest") for i in range(10)])
    out = import_csv(src, tmp_path / "t.h5", emg_columns="a,b", time_column="t", label_column="label")
    with SessionReader(out) as r:
        assert [n for *_, n in r.labels] == ["Rest", "Hand_Close"]
    src = _csv(tmp_path / "n.csv", [(i / 10, i, 0, i // 4) for i in range(10)])
    out = import_csv(src, tmp_path / "n.h5", emg_columns="a,b", time_column="t", label_column="label",
                     label_names={0: "rest", 1: "fist"})
    with SessionReader(out) as r:
        assert [n for *_, n in r.labels] == ["rest", "fist", "2"]  # an unnamed code keeps its number


def test_a_later_chunk_that_needs_a_wider_dtype_restarts_wider(tmp_path):
    rows = [(i / 100, 3, 1, 0) for i in range(300)] + [(3.0, 1000, 1, 0), (3.01, 2.5, 1, 0)]
    src = _csv(tmp_path / "w.csv", rows)
    out = import_csv(src, tmp_path / "w.h5", emg_columns="a,b", time_column="t", chunk_rows=100)
    with SessionReader(out) as r:
        assert r.emg_data.dtype == np.float32 and r.emg_data[300, 0] == 1000 and r.emg_data[301, 0] == 2.5
    with pytest.raises(ImportFormatError, match=r"w.csv line 302: value does not fit int8"):
        import_csv(src, tmp_path / "x.h5", emg_columns="a,b", time_column="t", chunk_rows=100, dtype=np.int8)
    assert not (tmp_path / "x.h5").exists() and not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("bad,match", [
    ("0.5,inf,1,0", r"line 53: field 2 is not a finite number: 'inf' \(EMG column\)"),
    ("nan,1,1,0", r"line 53: field 1 is not a finite number: 'nan' \(time column\)"),
    ("0.5,1,,0", r"line 53: field 3 is not a number: '' \(EMG column\)"),
    ("0.5,1", r"line 53: expected 4 fields, got 2"),
    ("0.5,1,2,3,4", r"line 53: expected 4 fields, got 5"),
    ("0.3,1,1,0", r"line 53: time goes backwards \(0.5 then 0.3\)"),
])
def test_bad_rows_across_chunk_boundaries_name_the_line(tmp_path, bad, match):
    rows = [f"{i / 100},1,1,0" for i in range(51)] + [bad] + [f"{0.6 + i / 100},1,1,0" for i in range(10)]
    src = tmp_path / "bad.csv"
    src.write_text("t,a,b,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(ImportFormatError, match="bad.csv " + match):
        import_csv(src, tmp_path / "x.h5", emg_columns="a,b", time_column="t", chunk_rows=51)
    assert not (tmp_path / "x.h5").exists() and not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("rate", [float("nan"), float("inf"), 0.0, -5.0])
def test_bad_rates_are_refused(tmp_path, rate):
    src = _csv(tmp_path / "s.csv", [(0, 1, 1, 0)])
    with pytest.raises(ValueError, match="positive finite"):
        import_csv(src, tmp_path / "x.h5", emg_columns="a,b", sample_rate_hz=rate)


def test_cli_rate_nan_and_label_names(tmp_path):
    src = _csv(tmp_path / "s.csv", [(i / 10, i, 0, i // 5) for i in range(10)])
    base = [sys.executable, "-m", "recorder", "import", str(src), "--format", "csv", "--emg-columns", "a,b"]
    r = subprocess.run(base + ["--rate", "nan", "--out", str(tmp_path / "x.h5")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode != 0 and "--rate must be a finite number" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(base + ["--time-column", "t", "--label-column", "label", "--label-names", "0=rest,1=fist",
                               "--out", str(tmp_path / "l.h5")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with SessionReader(tmp_path / "l.h5") as rd:
        assert [n for *_, n in rd.labels] == ["rest", "fist"]
    r = subprocess.run(base + ["--rate", "10", "--label-names", "x=rest", "--out", str(tmp_path / "y.h5")], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode != 0 and "CODE=NAME" in r.stderr


def test_labels_stop_at_gaps(tmp_path):
    t = [i / 100 for i in range(20)] + [5 + i / 100 for i in range(20)]
    src = _csv(tmp_path / "g.csv", [(x, 1, 1, "fist") for x in t])
    out = import_csv(src, tmp_path / "g.h5", emg_columns="a,b", time_column="t", label_column="label")
    with SessionReader(out) as r:
        assert len(r.gaps) == 1
        (s0, e0, _), (s1, e1, _) = r.labels
        assert e0 == pytest.approx(0.20) and s1 == pytest.approx(5.0)  # not one segment across the gap
        assert r.summary()["measured_rate_hz"] == pytest.approx(100.0)
