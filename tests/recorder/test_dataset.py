"""Windowing: windows end at the anchor time, gaps and the start are excluded, splits do not leak."""
import json

import numpy as np
import pytest

from recorder.dataset import windows as ds
from recorder.imports.synthetic_sessions import make_synthetic_session

RATE = 200.0


def _session(n=4000, frames_hz=30.0, missing=(), gaps=(), labels=(), seed=0, world=True):
    """In-memory session: sample k at k / RATE (minus the `missing` index ranges); EMG value = k on
    every channel (so a window's content says exactly which samples it holds)."""
    k = np.arange(n)
    keep = np.ones(n, bool)
    for a, b in missing:
        keep[a:b] = False
    k = k[keep]
    t = k / RATE
    emg = np.repeat(k[:, None].astype(np.float32), 8, axis=1)
    emg[:, 1] *= -1
    emg[:, 2] += seed  # sessions differ in content (and so in hash)
    ft = np.arange(0, n / RATE, 1 / frames_hz)
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 50, size=(len(ft), 21, 3)).astype(np.float32) if world else None
    return ds.SessionArrays(name=f"s{seed}", sample_rate_hz=RATE, channel_names=[f"c{i}" for i in range(8)], emg_t=t,
                            emg=emg, gaps=np.asarray(gaps, float).reshape(-1, 2), frame_t=ft, world=w,
                            labels=list(labels))


def test_window_ends_at_anchor_and_drops_start_gaps_and_end():
    t = np.arange(1000) / RATE
    t = np.delete(t, np.arange(500, 510))  # 10 samples missing at 2.50 .. 2.545 s
    T = 20
    anchors = np.array([0.05, 0.0951, 0.5, 0.5049, 2.0, 2.52, 2.56, 2.651, 4.995, 5.2, 3.0])
    end, ok = ds.window_ends(t, anchors, T, RATE, gaps=np.array([[2.9, 2.95]]))
    # last sample at or before the anchor
    for a, e in zip(anchors, end):
        if a >= t[0]:
            assert t[e] <= a + 1e-12 and (e + 1 == len(t) or t[e + 1] > a)
    expected = [False,  # reaches before sample 0
                True,   # sample 19 at 0.095 ends it: exactly 20 samples
                True, True, True,
                False,  # anchor inside the hole of missing samples
                False,  # window crosses the hole (ends at 2.56, would start before 2.50)
                True,   # a window entirely after the hole (ends at 2.65, starts at 2.555)
                True,   # last sample
                False,  # past the end of the EMG
                False]  # overlaps the recorded gap [2.9, 2.95]
    assert ok.tolist() == expected


def test_gather_matches_loop():
    x = np.random.default_rng(1).normal(size=(300, 8)).astype(np.float32)
    end = np.array([9, 10, 150, 299])
    W = ds.gather_windows(x, end, 10)
    assert W.shape == (4, 10, 8)
    for i, e in enumerate(end):
        np.testing.assert_array_equal(W[i], x[e - 9:e + 1])
    assert W.flags["C_CONTIGUOUS"]


def test_build_windows_content_and_targets():
    s = _session(missing=[(2000, 2010)])
    s.world[5] = np.nan  # a frame without a hand
    ws = ds.build_windows([s], task="pose", window_ms=100)
    T = 20
    assert ws.window_n == T and ws.X.shape[1:] == (T, 8)
    for i in range(len(ws)):
        idx = ws.X[i, :, 0].astype(int)
        # consecutive samples; the last one taken at or before the frame time, the next recorded one after it
        assert np.all(np.diff(idx) == 1)
        last = np.searchsorted(s.emg_t, idx[-1] / RATE)
        assert s.emg_t[last] <= ws.t[i] and (last + 1 == len(s.emg_t) or s.emg_t[last + 1] > ws.t[i])
        assert ws.t[i] - s.emg_t[last] <= 1.5 / RATE
    assert 5 not in ws.frame.tolist()
    # nothing from the hole: no window contains samples both sides of it
    assert not np.any((ws.X[:, 0, 0] < 2000) & (ws.X[:, -1, 0] >= 2010))
    # targets: world minus wrist, flattened, for the anchor's frame
    f = ws.frame[3]
    np.testing.assert_allclose(ws.y[3].reshape(21, 3), s.world[f] - s.world[f, :1])
    assert np.all(ws.y.reshape(-1, 21, 3)[:, 0] == 0)


def test_hand_frame_removes_rotation():
    s = _session(n=400)
    w = s.world[:3].astype(np.float64)
    a = 0.7
    R = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rotated = (w - w[:, :1]) @ R.T + 5.0
    np.testing.assert_allclose(ds.hand_frame(rotated), ds.hand_frame(w), atol=1e-3)
    h = ds.hand_frame(w)
    assert np.allclose(h[:, 0], 0) and np.allclose(h[:, 9, [0, 2]], 0, atol=1e-4)


def test_labels_and_grid_anchors():
    labels = [(0.0, 5.0, "rest"), (5.0, 10.0, "fist"), (12.0, 15.0, "open")]
    s = _session(n=3000, labels=labels)  # 15 s
    ws = ds.build_windows([s], task="gesture", window_ms=200, anchor="grid", grid_step_ms=50)
    assert ws.class_names == ["fist", "open", "rest"]
    assert np.all(ws.frame == -1)
    assert np.allclose(np.diff(ws.t), 0.05)
    name = np.array(ws.class_names)[ws.label]
    assert np.all(name[(ws.t >= 5) & (ws.t < 10)] == "fist")
    assert np.all(name[(ws.t >= 10) & (ws.t < 12)] == "rest")  # background label
    ws2 = ds.build_windows([s], task="gesture", window_ms=200, anchor="grid", background_label=None)
    assert not np.any((ws2.t >= 10) & (ws2.t < 12))
    assert ds.labels_at(np.array([1.0, 11.0]), [(0, 20, "long"), (0.5, 2, "short")], None) == ["short", "long"]


def _part_sample_ranges(ws, idx):
    return ws.X[idx, 0, 0].min(), ws.X[idx, -1, 0].max()


@pytest.mark.parametrize("mode", ["time", "blocks"])
def test_time_split_has_no_leakage(mode):
    s = _session(n=6000)
    ws = ds.build_windows([s], window_ms=250)
    split = ds.make_split(ws, mode=mode, val_fraction=0.2, test_fraction=0.1, n_blocks=4, val_block=1, test_block=3)
    parts = {p: ds.split_indices(ws, split, p) for p in ds.PARTS}
    assert all(len(v) for v in parts.values())
    assert sum(len(v) for v in parts.values()) < len(ws)  # the gaps cost some windows
    # no EMG sample belongs to windows of two different parts
    owner = {}
    for p, idx in parts.items():
        for k in np.unique(ws.X[idx][:, :, 0].astype(int)):
            assert owner.setdefault(k, p) == p, f"sample {k} in {owner[k]} and {p}"
    # blocks are contiguous in time
    if mode == "time":
        assert ws.t[parts["train"]].max() < ws.t[parts["val"]].min() <= ws.t[parts["val"]].max() < ws.t[parts["test"]].min()
    # JSON round trip gives the same parts
    back = ds.split_from_json(json.loads(json.dumps(ds.split_to_json(split))))
    for p in ds.PARTS:
        np.testing.assert_array_equal(ds.split_indices(ws, back, p), parts[p])


def test_session_split_and_matching_by_hash():
    ss = [_session(n=2000, seed=i) for i in range(3)]
    ws = ds.build_windows(ss, window_ms=100)
    split = ds.make_split(ws, mode="session")
    assert set(ws.session[ds.split_indices(ws, split, "train")]) == {0}
    assert set(ws.session[ds.split_indices(ws, split, "val")]) == {1}
    assert set(ws.session[ds.split_indices(ws, split, "test")]) == {2}
    split2 = ds.make_split(ws, mode="session", val_sessions=["s0"], test_sessions=[])
    assert set(ws.session[ds.split_indices(ws, split2, "val")]) == {0}
    back = ds.split_from_json(json.loads(json.dumps(ds.split_to_json(split))))
    # a different order of the same sessions finds them by content hash
    ws_rev = ds.build_windows(ss[::-1], window_ms=100)
    val = ds.split_indices(ws_rev, back, "val")
    assert {ws_rev.sessions[i]["name"] for i in ws_rev.session[val]} == {"s1"}
    with pytest.raises(ds.DatasetError):
        ds.make_split(ds.build_windows(ss[:1], window_ms=100), mode="session")


def test_normalisation_uses_given_rows_only():
    X = np.zeros((4, 3, 2), np.float32)
    X[:2] = 1.0
    X[2:] = 100.0
    m, s = ds.fit_channel_norm(X, np.array([0, 1]))
    assert np.all(m == 1.0) and np.all(s == 1.0)  # dead (constant) channel -> std 1
    m, s = ds.fit_channel_norm(X)
    assert np.allclose(m, 50.5)


def test_errors_name_the_problem():
    s = _session(n=200, world=False)
    with pytest.raises(ds.DatasetError, match="no video frames|landmarks"):
        ds.build_windows([s], task="pose", anchor="frames")
    with pytest.raises(ds.DatasetError, match="under 2 samples"):
        ds.build_windows([_session()], window_ms=1)
    other = _session()
    other.sample_rate_hz = 250.0
    with pytest.raises(ds.DatasetError, match="250"):
        ds.build_windows([_session(), other])


def test_session_file_with_gap(tmp_path):
    p = make_synthetic_session(tmp_path / "gap.h5", duration_s=20, seed=3, gaps=[(8.0, 9.0)], hand_dropout=0.1)
    s = ds.read_session(p)
    assert s.gaps.shape == (1, 2) and s.gaps[0, 0] == pytest.approx(8.0)
    assert not np.any((s.emg_t >= 8.0) & (s.emg_t < 9.0))
    assert 0.05 < np.mean(~np.isfinite(s.world[:, 0, 0])) < 0.2
    ws = ds.build_windows([p], window_ms=200)
    start = ws.t - (ws.window_n - 1) / RATE
    assert not np.any((start <= 9.0) & (ws.t >= 8.0))
    assert ws.sessions[0]["sha256"] == ds.file_sha256(p)
    assert len(s.labels) > 3


def test_gathered_windows_bit_identical_to_materialised(tmp_path):
    """The WindowView (numpy) and the trainer's on-device BatchGather yield exactly the windows and
    targets of the materialised (M, T, C) path: session files (int8 stored, a recorded gap, frames
    without a hand) plus an in-memory session with missing samples, pose and gesture."""
    import torch

    from recorder.imports.synthetic_sessions import make_synthetic_session
    from recorder.model.training import BatchGather

    p1 = make_synthetic_session(tmp_path / "a.h5", duration_s=12, seed=1, gaps=[(5.0, 5.6)], hand_dropout=0.2)
    p2 = make_synthetic_session(tmp_path / "b.h5", duration_s=8, seed=2)
    files = ds.as_sessions([p1, p2])
    assert files[0].emg.dtype == np.int8  # kept as stored
    for sessions, kw in ((files, {"task": "pose", "window_ms": 150}),
                         (files, {"task": "gesture", "window_ms": 200, "anchor": "grid", "transition_guard_ms": 100}),
                         ([_session(missing=[(2000, 2010)], gaps=[(12.0, 12.5)]), _session(seed=3)],
                          {"task": "pose", "window_ms": 100})):
        ref = ds.build_windows(sessions, materialise=True, **kw)
        ws = ds.build_windows(sessions, **kw)
        assert isinstance(ws.X, ds.WindowView) and isinstance(ref.X, np.ndarray)
        assert ws.X.shape == ref.X.shape and len(ws) == len(ref) and ws.dropped == ref.dropped
        np.testing.assert_array_equal(np.asarray(ws.X), ref.X)
        for k in ("t", "frame", "session", "label"):
            np.testing.assert_array_equal(getattr(ws, k), getattr(ref, k))
        if ref.y is not None:
            np.testing.assert_array_equal(ws.y, ref.y)
        idx = np.random.default_rng(0).permutation(len(ws))[:257]
        np.testing.assert_array_equal(ws.X[idx], ref.X[idx])
        np.testing.assert_array_equal(ws.X[idx[0]], ref.X[idx[0]])
        np.testing.assert_array_equal(ws.X[idx, -1, 2], ref.X[idx, -1, 2])
        np.testing.assert_array_equal(np.asarray(ws.subset(idx).X), ref.X[idx])
        mean, std = ds.fit_channel_norm(ref.X, idx)
        vmean, vstd = ds.fit_channel_norm(ws.X, idx)
        np.testing.assert_allclose(vmean, mean, rtol=1e-5, atol=1e-5 * float(np.abs(mean).max() + 1))
        np.testing.assert_allclose(vstd, std, rtol=1e-5)
        b = torch.from_numpy(idx)
        dev = torch.device("cpu")
        got = BatchGather(ws.X, mean, std, dev)(b)
        want = BatchGather(ref.X, mean, std, dev)(b)
        assert got.dtype == torch.float32
        assert torch.equal(got, want)


def test_window_view_never_spans_sessions():
    a, b = _session(n=500, seed=0), _session(n=500, seed=1)
    ws = ds.build_windows([a, b], task="pose", window_ms=100)
    assert len(ws.X.signal) == 1000
    for si in (0, 1):
        e = ws.X.end[ws.session == si]
        assert (e - (ws.window_n - 1) >= 500 * si).all() and (e < 500 * (si + 1)).all()
