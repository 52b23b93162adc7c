"""emgrec export --format bids: an EMG-BIDS dataset read back with mne-bids (and the BDF with edfio):
EMG values and rate, channels, labels/markers/gaps as events, participants, dataset description,
the landmarks as a motion recording; nothing is overwritten."""
import csv
import json

import numpy as np
import pytest

pytest.importorskip("mne_bids", reason="pip install 'emgrec[formats]'")
pytest.importorskip("edfio", reason="pip install 'emgrec[formats]'")

from recorder.cli.emgrec import main  # noqa: E402
from recorder.session.format import SessionReader  # noqa: E402
from recorder.imports.synthetic_sessions import make_synthetic_session  # noqa: E402


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    d = tmp_path_factory.mktemp("bids-src")
    a = make_synthetic_session(d / "a.h5", duration_s=6, seed=2, gaps=[(2.0, 2.5)], hand_dropout=0.2)
    b = make_synthetic_session(d / "b.h5", duration_s=3, seed=2)
    return a, b


def _tsv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_bids_dataset_reads_back_with_mne_bids(sessions, tmp_path, capsys):
    import mne_bids
    a, b = sessions
    out = tmp_path / "bids"
    assert main(["export", str(a), str(b), "--format", "bids", "--out", str(out), "-q"]) == 0
    assert "sub-synthetic2_ses-01_task-capture_emg.bdf" in capsys.readouterr().out
    dd = json.loads((out / "dataset_description.json").read_text())
    assert dd["BIDSVersion"] == "1.11.0" and dd["Name"]
    parts = _tsv(out / "participants.tsv")
    assert [p["participant_id"] for p in parts] == ["sub-synthetic2"]
    assert parts[0]["hand"] == "R"

    bp = mne_bids.BIDSPath(subject="synthetic2", session="01", task="capture", datatype="emg", root=out,
                           suffix="emg", extension=".bdf")
    raw = mne_bids.read_raw_bids(bp, verbose="error")
    with SessionReader(a) as r:
        rate, names = r.sample_rate_hz, r.channel_names
        x, t, labels, markers = r.emg_data[:], r.emg_t, r.labels, r.markers
    assert raw.info["sfreq"] == rate and raw.ch_names == names
    assert set(raw.get_channel_types()) == {"emg"}
    data = raw.get_data()  # volts; the Myo's int8 counts were stored as if microvolts
    k = np.round((t - t[0]) * rate).astype(int)
    np.testing.assert_allclose(data[:, k].T * 1e6, x, atol=0.02)  # 24-bit BDF quantisation
    assert data.shape[1] == k[-1] + 1  # the gap is kept as a hole on the grid, not squeezed out
    ev = _tsv(bp.copy().update(suffix="events", extension=".tsv").fpath)
    types = [e["trial_type"] for e in ev]
    assert "BAD_gap" in types
    gap = next(e for e in ev if e["trial_type"] == "BAD_gap")
    assert abs(float(gap["onset"]) - (2.0 - t[0])) < 0.02 and abs(float(gap["duration"]) - 0.5) < 0.02
    for s0, s1, name in labels:
        assert any(e["trial_type"] == name and abs(float(e["onset"]) - (s0 - t[0])) < 0.01
                   and abs(float(e["duration"]) - (s1 - s0)) < 0.01 for e in ev), name
    assert len(ev) == len(labels) + len(markers) + 1
    ch = _tsv(bp.copy().update(suffix="channels", extension=".tsv").fpath)
    assert [c["name"] for c in ch] == names and {c["type"] for c in ch} == {"EMG"}
    assert {c["units"] for c in ch} == {"n/a"}  # the Myo's raw numbers have no physical unit
    side = json.loads(bp.copy().update(extension=".json").fpath.read_text())
    assert side["SamplingFrequency"] == rate and side["EMGPlacementScheme"] == "Other"
    assert side["EMGChannelCount"] == len(names)
    # the second session of the same subject is ses-02
    assert mne_bids.read_raw_bids(bp.copy().update(session="02"), verbose="error").n_times > 500


def test_bdf_is_24_bit_and_readable_by_edfio(sessions, tmp_path):
    import edfio
    from recorder.export.bids import export_bids
    f = export_bids([sessions[1]], tmp_path / "b")[0]
    assert f.suffix == ".bdf"
    bdf = edfio.read_bdf(f)
    assert len(bdf.signals) >= 8
    assert f.read_bytes()[:8] == b"\xffBIOSEMI"  # BDF (24-bit) header, not EDF


def test_landmarks_are_a_motion_recording(sessions, tmp_path):
    from recorder.export.bids import export_bids
    a = sessions[0]
    export_bids([a], tmp_path / "m")
    mdir = tmp_path / "m" / "sub-synthetic2" / "ses-01" / "motion"
    stem = "sub-synthetic2_ses-01_task-capture_tracksys-mediapipe"
    with open(mdir / f"{stem}_motion.tsv") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    ch = _tsv(mdir / f"{stem}_channels.tsv")
    assert len(ch) == 64 and ch[0]["type"] == "LATENCY" and ch[1]["name"] == "wrist_x" and ch[1]["units"] == "mm"
    js = json.loads((mdir / f"{stem}_motion.json").read_text())
    assert js["POSChannelCount"] == 63 and js["MotionChannelCount"] == 64
    with SessionReader(a) as r:
        world = np.asarray(r.landmarks_world[:]).reshape(r.n_frames, 63)
        vt, t0 = r.video_t, r.emg_t[0]
    assert len(rows) == len(vt) and all(len(row) == 64 for row in rows)
    np.testing.assert_allclose([float(row[0]) for row in rows], vt - t0, atol=1e-6)
    no_hand = ~np.isfinite(world[:, 0])
    assert no_hand.any() and all(rows[i][1] == "n/a" for i in np.flatnonzero(no_hand))
    i = int(np.flatnonzero(~no_hand)[0])
    np.testing.assert_allclose([float(v) for v in rows[i][1:]], world[i], atol=1e-3)


def test_existing_dataset_files_are_not_overwritten(sessions, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["export", str(sessions[1]), "--format", "bids", "--out", str(out), "-q"]) == 0
    before = (out / "sub-synthetic2" / "ses-01" / "emg" / "sub-synthetic2_ses-01_task-capture_emg.bdf").read_bytes()
    assert main(["export", str(sessions[1]), "--format", "bids", "--out", str(out), "-q"]) == 1
    assert "exists" in capsys.readouterr().err
    assert (out / "sub-synthetic2" / "ses-01" / "emg" / "sub-synthetic2_ses-01_task-capture_emg.bdf").read_bytes() == before


def test_bids_validator_finds_no_errors(sessions, tmp_path):
    """The official BIDS validator (PyPI: bids-validator-deno, part of the [formats] extra)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path
    exe = shutil.which("bids-validator-deno") or str(Path(sys.executable).with_name("bids-validator-deno"))
    if not Path(exe).exists():
        pytest.skip("pip install bids-validator-deno (in 'emgrec[formats]')")
    from recorder.export.bids import export_bids
    out = tmp_path / "v"
    export_bids(list(sessions), out)
    p = subprocess.run([exe, str(out), "--json"], capture_output=True, text=True, timeout=240)
    report = json.loads(p.stdout)
    errors = [(i["code"], i.get("location")) for i in report["issues"]["issues"] if i.get("severity") == "error"]
    assert errors == []
    assert set(report["summary"]["dataTypes"]) == {"emg", "motion"}
