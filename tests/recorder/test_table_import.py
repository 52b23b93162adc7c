"""One table with EMG and 3-D joints on the same rows (issue 10): presets, custom names, positional
layouts, units, and a round trip through our own seed-layout CSV export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recorder.export.files import SEED_JOINT_NAMES
from recorder.imports.tables import ImportFormatError
from recorder.imports.pose import MEDIAPIPE_JOINT_NAMES, import_table
from recorder.session.format import SessionReader
from recorder.imports.synthetic_sessions import make_synthetic_session

ROOT = Path(__file__).resolve().parents[2]


def _hand(k: int) -> np.ndarray:
    return (np.arange(63).reshape(21, 3) + 10.0 * k).astype(np.float64)


def _write(path, header, rows):
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    return path


@pytest.mark.parametrize("preset,units,scale", [("mediapipe", "m", 1000.0), ("numbered", "mm", 1.0)])
def test_named_presets_and_units(tmp_path, preset, units, scale):
    names = MEDIAPIPE_JOINT_NAMES if preset == "mediapipe" else [str(i) for i in range(21)]
    col = (lambda j, a: f"{j}_{a}") if preset == "mediapipe" else (lambda j, a: f"{a}{j}")
    # Blocks order in the file (all x, then y, then z): names decide, not positions.
    header = ["t", "e1", "e2"] + [col(j, a) for a in "xyz" for j in names]
    rows = []
    for i in range(40):
        k = i // 4  # one pose per 4 EMG rows: 10 frames
        h = _hand(k) / scale
        rows.append([i / 100, i, -i] + [h[j, a] for a in range(3) for j in range(21)])
    src = _write(tmp_path / "t.csv", header, rows)
    out = import_table(src, tmp_path / "t.h5", emg_columns="e1,e2", preset=preset, time_column="t", clock="unix")
    with SessionReader(out) as r:
        assert r.n_samples == 40 and r.n_frames == 10 and not r.has_image().any()
        np.testing.assert_allclose(np.asarray(r.landmarks_world)[3], _hand(3), rtol=1e-5)
        np.testing.assert_allclose(r.video_t, np.arange(10) * 0.04, atol=1e-9)
        assert r.sample_rate_hz == pytest.approx(100.0)


@pytest.mark.parametrize("layout", ["interleaved", "blocks"])
def test_positional_columns(tmp_path, layout):
    rows = []
    for i in range(12):
        h = _hand(i // 3)
        vals = h.ravel() if layout == "interleaved" else h.T.ravel()
        rows.append([i, 2 * i] + list(vals))
    src = _write(tmp_path / "p.csv", ["a", "b"] + [f"c{k}" for k in range(63)], rows)
    out = import_table(src, tmp_path / "p.h5", emg_columns="0,1", preset=None, pose_columns="2-64",
                       layout=layout, sample_rate_hz=50)
    with SessionReader(out) as r:
        assert r.n_frames == 4
        np.testing.assert_allclose(np.asarray(r.landmarks_world)[2], _hand(2))


def test_custom_joint_names_and_errors(tmp_path):
    joints = [f"J{i}" for i in range(21)]
    header = ["e"] + [f"{j}.{a}" for j in joints for a in "XYZ"]
    src = _write(tmp_path / "c.csv", header, [[1] + list(_hand(0).ravel()), [2] + list(_hand(1).ravel())])
    out = import_table(src, tmp_path / "c.h5", emg_columns="e", preset=None, joints=joints, column="{joint}.{axis}",
                       sample_rate_hz=10)
    with SessionReader(out) as r:
        assert r.n_frames == 2
    with pytest.raises(ImportFormatError, match=r"c.csv: no column 'Wrist x'"):
        import_table(src, tmp_path / "d.h5", emg_columns="e", preset="seed", sample_rate_hz=10)
    with pytest.raises(ImportFormatError, match="63 needed"):
        import_table(src, tmp_path / "d.h5", emg_columns="e", preset=None, pose_columns="1-10", sample_rate_hz=10)
    rows = src.read_text().splitlines()
    rows[2] = "x" + rows[2][1:]
    src.write_text("\n".join(rows) + "\n")
    with pytest.raises(ImportFormatError, match=r"c.csv line 3: EMG column 'e' is not a finite number"):
        import_table(src, tmp_path / "d.h5", emg_columns="e", preset=None, joints=joints, column="{joint}.{axis}",
                     sample_rate_hz=10)


def test_round_trip_through_our_seed_csv_export(tmp_path):
    s = make_synthetic_session(tmp_path / "s.h5", duration_s=6, seed=3)
    csv_path = tmp_path / "s.csv"
    r = subprocess.run([sys.executable, "-m", "recorder", "export", str(s), "--format", "csv", "--out", str(csv_path)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = import_table(csv_path, tmp_path / "back.h5", emg_columns=",".join(f"ch{i + 1}" for i in range(8)),
                       preset="seed", label_column="label")
    with SessionReader(s) as a, SessionReader(out) as b:
        assert b.n_samples == a.n_samples
        np.testing.assert_array_equal(np.asarray(b.emg_data), np.asarray(a.emg_data))
        # Frames: every original frame from the first EMG sample on, at its own capture time.
        keep = a.video_t >= a.emg_t[0]
        keep &= a.video_t <= a.emg_t[-1]
        t0 = a.emg_t[0]
        np.testing.assert_allclose(b.video_t, a.video_t[keep] - t0, atol=1e-5)
        wa = np.asarray(a.landmarks_world)[keep]
        np.testing.assert_allclose(np.asarray(b.landmarks_world), wa, atol=1e-2)
        assert b.labels and [n for *_, n in b.labels] == [n for *_, n in a.labels][:len(b.labels)]


def test_cli_joints_preset(tmp_path):
    header = ["t", "e1"] + [f"{a}{j}" for j in range(21) for a in "xyz"]
    rows = [[i / 100, i] + list((_hand(i // 2) / 1000).ravel()) for i in range(10)]
    src = _write(tmp_path / "n.csv", header, rows)
    cmd = [sys.executable, "-m", "recorder", "import", str(src), "--joints", "numbered", "--joint-units", "m",
           "--emg-columns", "e1", "--time-column", "t", "--emg-clock", "unix", "--out", str(tmp_path / "n.h5")]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with SessionReader(tmp_path / "n.h5") as rd:
        assert rd.n_frames == 5
        np.testing.assert_allclose(np.asarray(rd.landmarks_world)[1], _hand(1), rtol=1e-5)
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode != 0 and "exists" in r.stderr
