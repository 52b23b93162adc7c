"""Exports: session -> file -> load gives back the same numbers."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from recorder.export import files as ex
from recorder.dataset.windows import build_windows, labels_at
from recorder.session.format import SessionReader
from recorder.imports.synthetic_sessions import make_synthetic_session

WINDOW_MS = 200.0


def _strict_json(text: str):
    def bad(c):
        raise ValueError(f"non-JSON constant {c}")
    return json.loads(text, parse_constant=bad)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    d = tmp_path_factory.mktemp("sessions")
    s1 = make_synthetic_session(d / "a.h5", duration_s=40.0, seed=1, gaps=[(12.0, 12.5)], hand_dropout=0.1)
    s2 = make_synthetic_session(d / "b.h5", duration_s=15.0, seed=2)
    return s1, s2


@pytest.fixture(scope="module")
def h5_export(sessions, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "windows.h5"
    calls = []
    res = ex.export_windows(sessions, out, window_ms=WINDOW_MS, block_s=7.0,
                            progress=lambda p: calls.append(p.fraction))
    return res, calls


def test_h5_windows_are_raw_slices_and_targets_are_wrist_relative(sessions, h5_export):
    import h5py

    res, calls = h5_export
    assert res.path.is_file() and calls[-1] == 1.0 and calls == sorted(calls)
    T = res.manifest["window"]["samples"]
    with h5py.File(res.path) as f:
        X, Y, t, frame, sess = f["X"][:], f["Y"][:], f["t"][:], f["frame"][:], f["session"][:]
        label, index = f["label"][:], f["session_index"][:]
        manifest = _strict_json(f.attrs["manifest"])
    classes = manifest["labels"]["class_names"]
    assert X.dtype == np.float32 and X.shape == (len(t), T, 8) and Y.shape == (len(t), 63)
    assert [tuple(r) for r in index] == [(0, int((sess == 0).sum())), (int((sess == 0).sum()), len(t))]
    rng = np.random.default_rng(0)
    for k, path in enumerate(sessions):
        rows = np.arange(*index[k])
        assert (sess[rows] == k).all()
        with SessionReader(path) as r:
            emg_t, raw = r.emg_t, np.asarray(r.emg_data)
            world = np.asarray(r.landmarks_world)
            assert np.array_equal(t[rows], r.video_t[frame[rows]])
            names = labels_at(t[rows], r.labels, "rest")
            gaps = r.gaps
        for i in rng.choice(rows, 200, replace=False):
            end = np.searchsorted(emg_t, t[i], side="right") - 1
            np.testing.assert_array_equal(X[i], raw[end - T + 1:end + 1].astype(np.float32))
            w = world[frame[i]]
            np.testing.assert_allclose(Y[i], (w - w[0]).reshape(63), atol=1e-5)
        assert [classes[j] for j in label[rows]] == names
        # No window crosses the recorded gap; frames without a hand have no window.
        for g0, g1 in gaps:
            starts = emg_t[np.searchsorted(emg_t, t[rows], side="right") - T]
            assert not ((starts <= g1) & (t[rows] >= g0)).any()
        assert np.isfinite(world[frame[rows]]).all()
    # The same windows as the training pipeline's (block-wise export == whole-session windowing).
    ws = build_windows(sessions, window_ms=WINDOW_MS, class_names=classes)
    np.testing.assert_array_equal(X, ws.X)
    np.testing.assert_array_equal(Y, ws.y)
    np.testing.assert_array_equal(label, ws.label)
    side = _strict_json(res.path.with_name(res.path.name + ".json").read_text())
    assert side == manifest
    assert [s["sha256"] for s in side["sessions"]] == [ws.sessions[0]["sha256"], ws.sessions[1]["sha256"]]
    assert side["emg"]["sample_rate_hz"] == 200.0 and side["window"]["ms"] == WINDOW_MS


def test_split_codes_are_ordered_time_blocks(h5_export):
    import h5py

    with h5py.File(h5_export[0].path) as f:
        t, sess, split = f["t"][:], f["session"][:], f["split"][:]
    for k in (0, 1):
        codes = split[sess == k]
        tk = t[sess == k]
        assert set(np.unique(codes)) <= {-1, 0, 1, 2} and {0, 1, 2} <= set(codes)
        # train < val < test in time, with at least one window length between parts.
        assert tk[codes == 0].max() + 0.2 <= tk[codes == 1].min()
        assert tk[codes == 1].max() + 0.2 <= tk[codes == 2].min()


def test_npz_equals_h5_and_normalisation_is_recorded(sessions, h5_export, tmp_path):
    import h5py

    out = tmp_path / "w.npz"
    res = ex.export_windows(sessions, out, window_ms=WINDOW_MS, normalise=True)
    z = np.load(out)  # no pickle needed
    with h5py.File(h5_export[0].path) as f:
        X_raw, Y = f["X"][:], f["Y"][:]
    flat = X_raw.reshape(-1, 8).astype(np.float64)
    np.testing.assert_allclose(z["x_mean"], flat.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z["x_std"], flat.std(0), rtol=1e-5)
    np.testing.assert_allclose(z["X"], (X_raw - z["x_mean"]) / z["x_std"], atol=1e-5)
    np.testing.assert_array_equal(z["Y"], Y)
    m = _strict_json(str(z["manifest"]))
    assert m["normalisation"]["applied"] is True and m == res.manifest
    assert list(z["class_names"]) == m["labels"]["class_names"]
    assert list(z["channel_names"]) == [f"ch{i + 1}" for i in range(8)]
    assert not list(tmp_path.glob(".*.part*"))


def test_torch_tensordataset_loads_export(h5_export):
    torch = pytest.importorskip("torch")
    import h5py

    with h5py.File(h5_export[0].path) as f:
        train = f["split"][:] == 0
        X, Y = torch.from_numpy(f["X"][:][train]), torch.from_numpy(f["Y"][:][train])
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=64)
    xb, yb = next(iter(dl))
    assert xb.shape[1:] == (40, 8) and yb.shape[1:] == (63,)


def test_cancel_leaves_no_file(sessions, tmp_path):
    stop = threading.Event()
    out = tmp_path / "w.h5"
    with pytest.raises(ex.ExportCancelled):
        ex.export_windows(sessions, out, window_ms=WINDOW_MS, block_s=5.0,
                          progress=lambda p: stop.set() if p.fraction > 0 else None, cancel=stop)
    assert list(tmp_path.iterdir()) == []


def test_bad_requests_raise_clear_errors(sessions, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        ex.export_windows([tmp_path / "nope.h5"], tmp_path / "o.h5")
    with pytest.raises(ex.ExportError, match="format"):
        ex.export(sessions, tmp_path / "o.xyz", "xyz")


def test_csv_seed_layout_round_trip(sessions, tmp_path):
    out = tmp_path / "a.csv"
    res = ex.export_csv(sessions[0], out, rows_per_block=3000)
    header, rows, labels = ex.read_csv(out)
    assert header == ex.csv_header(8)
    assert header[:11] == ["hand timestamp", "timestamp diff", "emg timestamp"] + [f"ch{i}" for i in range(1, 9)]
    assert header[11:14] == ["Wrist x", "Wrist y", "Wrist z"] and header[-2] == "Pinky Tip z"
    with SessionReader(sessions[0]) as r:
        n = r.n_samples
        assert res.items == n and rows.shape == (n, 74)
        np.testing.assert_allclose(rows[:, 2], r.emg_t, atol=1e-6)
        np.testing.assert_array_equal(rows[:, 3:11], np.asarray(r.emg_data))
        vt, world = r.video_t, np.asarray(r.landmarks_world).reshape(-1, 63)
        fi = np.searchsorted(vt, r.emg_t, side="right") - 1
        ok = fi >= 0
        np.testing.assert_allclose(rows[ok, 0], vt[fi[ok]], atol=1e-6)
        np.testing.assert_allclose(rows[ok, 11:], world[fi[ok]], atol=1e-3, equal_nan=True)
        assert np.isnan(rows[~ok, 0]).all()
        assert (rows[ok, 1] <= 1e-6).all()
        assert labels == [x or "" for x in labels_at(r.emg_t, r.labels, None)]


def test_import_then_export_keeps_samples_and_labels(shared_data, tmp_path):
    importers = pytest.importorskip("recorder.imports.tables")
    src = shared_data / "emg" / "myo-readings" / "_readings_right_hand" / "12345-1" / "3.txt"
    if not src.is_file():
        pytest.skip(f"{src} not present")
    raw = np.loadtxt(src, delimiter=",", dtype=np.int64)
    names = importers.MYO_READINGS_LABELS
    session = importers.import_myo_readings(src, tmp_path / "imported.h5")
    out = tmp_path / "imported.csv"
    ex.export_csv(session, out)
    header, rows, labels = ex.read_csv(out)
    assert rows.shape == (len(raw), 3 + 8 + 63)
    np.testing.assert_array_equal(rows[:, 3:11], raw[:, :8])
    np.testing.assert_allclose(rows[:, 2], np.arange(len(raw)) / 200.0, atol=1e-6)
    assert labels == [names[c] for c in raw[:, 8]]
    assert np.isnan(rows[:, 11:]).all()  # EMG-only: no hand columns
    # Training windows of an EMG-only session: grid anchors, gesture labels of the window's last sample.
    res = ex.export_windows([session], tmp_path / "imported.npz", window_ms=200.0)
    z = np.load(res.path)
    assert res.manifest["task"] == "gesture" and "Y" not in z.files and (z["frame"] == -1).all()
    last = np.searchsorted(np.arange(len(raw)) / 200.0, z["t"], side="right") - 1
    np.testing.assert_array_equal(z["X"][:, -1], raw[last, :8].astype(np.float32))
    assert [str(z["class_names"][k]) for k in z["label"]] == [names[c] for c in raw[last, 8]]


def test_mp4_has_one_video_frame_per_stored_frame(tmp_path, camera_session):
    import cv2

    s = camera_session
    calls = []
    res = ex.export_video(s, tmp_path / "cam.mp4", predict=lambda X: np.zeros((len(X), 63), np.float32),
                          progress=lambda p: calls.append(p.fraction))
    cap = cv2.VideoCapture(str(res.path))
    try:
        n = 0
        while cap.read()[0]:
            n += 1
        assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 320
    finally:
        cap.release()
    with SessionReader(s) as r:
        assert n == r.n_frames == res.items
    assert calls[-1] == 1.0


def test_cli_export_npz(sessions, tmp_path, capsys):
    from recorder.cli.emgrec import main

    out = tmp_path / "cli.npz"
    assert main(["export", str(sessions[1]), "--format", "npz", "--window-ms", "150", "--out", str(out), "-q"]) == 0
    z = np.load(out)
    assert z["X"].shape[1:] == (30, 8) and "windows" in capsys.readouterr().out
