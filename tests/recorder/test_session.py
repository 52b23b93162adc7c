"""Session files: writer/reader round trip, annotations, bad files, disk full, throughput."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from recorder.session.format import (LABEL_NAME_BYTES, SessionFormatError, SessionReader, SessionWriter,
                              save_annotations)
from recorder.core.types import EmgChunk, Frame, Landmarks

ROOT = Path(__file__).resolve().parents[2]
CH = [f"ch{i}" for i in range(8)]


def _lm(i: int, t: float, hand: bool = True) -> Landmarks:
    if not hand:
        return Landmarks.empty(t, i)
    return Landmarks(np.full((21, 3), i / 100, np.float32), np.full((21, 3), float(i), np.float32),
                     0.5 + i / 1000, "Left" if i % 3 else "Right", t, i)


def _write_session(path: Path, t0: float = 1000.0, n: int = 3000, n_frames: int = 40, **kw):
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (n, 8)).astype(np.int8)
    t = t0 + 0.25 + np.arange(n) / 200.0
    frames = [Frame(np.full((60, 80, 3), (i * 5) % 250, np.uint8), t0 + 0.3 + i / 30, 10 + i) for i in range(n_frames)]
    w = SessionWriter(path, sample_rate_hz=200, channel_names=CH, units="counts", scale_to_uV=float("nan"),
                      emg_dtype=np.int8, t0=t0, flush_interval_s=0.2,
                      metadata={"subject": "s01", "hand": "right", "notes": "n",
                                "device": {"kind": "synthetic"}, "settings": {"window_ms": 200}, "take": 3}, **kw)
    w.start()
    for k in range(0, n, 37):
        w.add_emg(EmgChunk(x[k:k + 37], t[k:k + 37], k, t[min(n, k + 37) - 1]))
    # Landmarks: frame 5's before its frame, the rest after and out of order (some after a flush wrote
    # their rows), some without a hand, frame 33's never.
    w.add_landmarks(_lm(10 + 5, 0.0))
    for i, fr in enumerate(frames):
        w.add_frame(fr, jpeg=None)
        if i == 20:
            time.sleep(0.3)  # let a flush happen so later landmarks land on rows already on disk
    for i in reversed(range(n_frames)):
        if i in (5, 33):
            continue
        w.add_landmarks(_lm(10 + i, frames[i].t, hand=i % 7 != 0))
    w.add_gap(t0 + 2.0, t0 + 2.5)
    w.add_label(t0 + 1.0, t0 + 3.0, "fist")
    w.add_label(t0 + 4.0, t0 + 5.0, "pinch ✓")
    w.add_marker(t0 + 1.5, "look here")
    path_out = w.close()
    return w, path_out, x, t - t0, frames


def test_round_trip(tmp_path):
    w, path, x, ts, frames = _write_session(tmp_path / "a.h5")
    assert w.error is None
    st = w.stats()
    assert st["samples"] == len(x) and st["frames"] == len(frames) and st["queue"] == 0
    assert st["lost_samples"] == st["lost_frames"] == 0
    with SessionReader(path) as r:
        assert r.complete and not r.opened_swmr
        assert r.sample_rate_hz == 200 and r.channel_names == CH and np.isnan(r.scale_to_uV)
        assert r.emg_data.dtype == np.int8 and r.emg_data.shape == x.shape
        assert np.array_equal(np.asarray(r.emg_data), x)
        assert np.array_equal(r.emg_t, ts)  # exact: stored float64 session seconds
        tt, xx = r.emg_between(1.0, 2.0)
        assert np.array_equal(xx, x[(ts >= 1.0) & (ts < 2.0)]) and tt[0] >= 1.0 and tt[-1] < 2.0
        assert np.array_equal(r.emg_data[5:9, 2:4], x[5:9, 2:4])
        assert np.array_equal(r.emg_data[[3, 1, 7]], x[[3, 1, 7]])
        assert np.array_equal(r.emg_data[-1], x[-1])
        with pytest.raises(IndexError):
            r.emg_data[len(x)]
        np.testing.assert_allclose(r.video_t, [fr.t - 1000.0 for fr in frames])
        assert np.array_equal(r.video_index, [fr.index for fr in frames])
        for i in (0, 17, len(frames) - 1):
            img = r.frame(i)
            assert img.shape == (60, 80, 3) and abs(float(img.mean()) - (i * 5) % 250) < 2
        world = np.asarray(r.landmarks_world)
        score = np.asarray(r.landmarks_score)
        for i in range(len(frames)):
            if i == 33:
                assert np.isnan(world[i]).all() and np.isnan(score[i])  # never arrived
            elif i % 7 == 0:
                assert np.isnan(world[i]).all() and score[i] == 0  # processed, no hand
            else:
                j = 10 + i  # _lm() encodes the frame index
                assert (world[i] == j).all() and np.allclose(r.landmarks_image[i], j / 100)
                assert r.handedness[i] == ("Left" if j % 3 else "Right")
        assert r.has_hand().sum() == sum(1 for i in range(len(frames)) if i != 33 and i % 7)
        np.testing.assert_allclose(r.gaps, [[2.0, 2.5]])
        assert r.labels == [(1.0, 3.0, "fist"), (4.0, 5.0, "pinch ✓")]
        assert r.markers == [(1.5, "look here")]
        a = r.attrs
        assert a["format"] == "emg-hand-session" and a["format_version"] == 1
        assert a["subject"] == "s01" and a["hand"] == "right" and a["device"] == {"kind": "synthetic"}
        assert a["settings"] == {"window_ms": 200} and a["take"] == 3 and a["t0_host_s"] == 1000.0
        s = r.summary()
        assert s["samples"] == len(x) and s["frames"] == len(frames) and s["labels"] == 2 and s["gaps"] == 1
        assert abs(s["measured_rate_hz"] - 200) < 1e-6 and s["complete"]
        json.dumps(s)  # plain types only


def test_save_annotations_rewrites_only_tables(tmp_path):
    _, path, x, ts, _ = _write_session(tmp_path / "a.h5", n_frames=5)
    with h5py.File(path) as f:
        before = {k: f[k][:] for k in ("emg/data", "emg/t", "video/jpeg", "landmarks/world")}
    save_annotations(path, [(0.5, 1.5, "rest"), (2.0, 2.2, "fist")], [])
    with SessionReader(path) as r:
        assert r.labels == [(0.5, 1.5, "rest"), (2.0, 2.2, "fist")] and r.markers == []
    save_annotations(path, [], [(1.0, "x" * 256)])
    with SessionReader(path) as r:
        assert r.labels == [] and r.markers == [(1.0, "x" * 256)]
    with h5py.File(path) as f:
        for k, v in before.items():
            assert np.array_equal(f[k][:], v, equal_nan=True), k
    with pytest.raises(ValueError, match="ends before"):
        save_annotations(path, [(2.0, 1.0, "bad")], [])
    with pytest.raises(ValueError, match="longer than"):
        save_annotations(path, [(0.0, 1.0, "n" * (LABEL_NAME_BYTES + 1))], [])


def _foreign(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(3))


def _newer(path: Path) -> None:
    _write_session(path, n=10, n_frames=0)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 2


def _missing(path: Path) -> None:
    _write_session(path, n=10, n_frames=0)
    with h5py.File(path, "r+") as f:
        del f["video/jpeg_index"]


def _truncated(path: Path) -> None:
    _write_session(path, n=2000, n_frames=10)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _garbage(path: Path) -> None:
    _write_session(path, n=2000, n_frames=10)
    data = bytearray(path.read_bytes())
    data[0:4096] = bytes(4096)  # superblock gone
    path.write_bytes(bytes(data))


def _bad_superblock(path: Path) -> None:
    _write_session(path, n=2000, n_frames=10)
    data = bytearray(path.read_bytes())
    data[8:64] = np.random.default_rng(0).bytes(56)  # signature kept, superblock fields scrambled
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("make, problem", [
    (_bad_superblock, "corrupt or truncated"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("t,ch1\n0,1\n"), "not an HDF5"),
    (_foreign, "not an emgrec session"),
    (_newer, "newer"),
    (_missing, "/video/jpeg_index"),
    (_truncated, "corrupt or truncated"),
    (_garbage, "not an HDF5"),
])
def test_bad_files_raise_session_format_error(tmp_path, make, problem):
    path = tmp_path / "bad.h5"
    make(path)
    with pytest.raises(SessionFormatError, match=problem) as ei:
        SessionReader(path)
    assert str(path) in str(ei.value)


def test_cli_info(tmp_path, capsys):
    from recorder.cli.emgrec import main
    _, path, *_ = _write_session(tmp_path / "a.h5", n_frames=5)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "samples" in out and "3000" in out and "fist" in out
    bad = tmp_path / "bad.h5"
    bad.write_text("nope")
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.h5" in err and "not an HDF5" in err


DISK_FULL_CHILD = textwrap.dedent("""
    import json, os, subprocess, sys, threading
    import numpy as np
    from recorder.session.format import SessionWriter, SessionReader
    from recorder.core.types import EmgChunk, Frame
    mnt = sys.argv[1]
    # A real 3 MB filesystem, private to this process's mount namespace (unshare -rm).
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt], check=True)
    path = os.path.join(mnt, "full.h5")
    errors = []
    done = threading.Event()
    w = SessionWriter(path, sample_rate_hz=200, channel_names=list("abcdefgh"), emg_dtype=np.int16, t0=0.0,
                      flush_interval_s=0.05, min_free_bytes=0,
                      on_error=lambda e: (errors.append(repr(e)), done.set()))
    w.start()
    img = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)  # ~200 kB as JPEG
    handed = 0
    for i in range(400):
        w.add_emg(EmgChunk(np.full((20, 8), i, np.int16), (np.arange(20) + 20 * i) / 200, 20 * i, 0.0))
        w.add_frame(Frame(img, i / 30, i))
        handed += 20
        if done.wait(0.01):
            break
    for i in range(5):  # after the error: counted, not raised
        w.add_emg(EmgChunk(np.zeros((20, 8), np.int16), np.zeros(20), 0, 0.0))
    w.close()
    with SessionReader(path) as r:  # the file lives only in this namespace: check it here
        x = np.asarray(r.emg_data)[:, 0]
        ok = bool(np.array_equal(x, np.arange(r.n_samples) // 20))
        r.frame(r.n_frames - 1)
        info = dict(n=r.n_samples, nf=r.n_frames, swmr=r.opened_swmr, complete=r.complete, values_ok=ok)
    print(json.dumps(dict(errors=errors, error=repr(w.error), stats=w.stats(), handed=handed, file=info)))
""")


def test_disk_full_stops_cleanly_and_keeps_file(tmp_path):
    """A real full filesystem (tmpfs of 3 MB in a private mount namespace)."""
    import shutil as _shutil
    if _shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"]).returncode != 0:
        pytest.skip("needs unshare -rm (user + mount namespaces) to mount a private tmpfs")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = subprocess.run(["unshare", "-rm", sys.executable, "-c", DISK_FULL_CHILD, str(mnt)], capture_output=True,
                         text=True, timeout=120, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    if out.returncode != 0 and "mount" in out.stderr and "permission" in out.stderr.lower():
        pytest.skip(f"cannot mount tmpfs here: {out.stderr.strip()[-200:]}")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(res["errors"]) == 1
    assert "No space" in res["error"] or "disk almost full" in res["error"]
    st, info = res["stats"], res["file"]
    assert st["lost_samples"] >= 100  # the five chunks after the error, plus what was queued
    assert st["samples"] + st["lost_samples"] == res["handed"] + 100
    assert info["n"] == st["samples"] > 0 and info["nf"] == st["frames"] > 0 and info["values_ok"]
    assert not info["complete"]


def test_write_error_keeps_file_up_to_last_flush(tmp_path, monkeypatch):
    """An OSError from the HDF5 layer mid-batch: writing stops, the error is reported once, nothing raises
    into the producer, and the file holds every batch flushed before."""
    import errno
    import recorder.session.format as session
    real_append = session._append
    calls = {"n": 0}

    def failing_append(ds, rows):
        calls["n"] += 1
        if calls["n"] > 40:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_append(ds, rows)

    monkeypatch.setattr(session, "_append", failing_append)
    errors = []
    w = SessionWriter(tmp_path / "e.h5", sample_rate_hz=100, channel_names=["a", "b"], emg_dtype=np.int16, t0=0.0,
                      flush_interval_s=0.05, on_error=errors.append).start()
    k = 0
    while not errors and k < 500:
        w.add_emg(EmgChunk(np.full((10, 2), k, np.int16), np.arange(10 * k, 10 * k + 10) / 100, 10 * k, 0.0))
        w.add_frame(Frame(np.zeros((8, 8, 3), np.uint8), k / 10, k))
        k += 1
        time.sleep(0.005)
    w.add_emg(EmgChunk(np.zeros((10, 2), np.int16), np.zeros(10), 0, 0.0))
    w.close()
    assert len(errors) == 1 and w.error is errors[0]
    st = w.stats()
    assert st["samples"] + st["lost_samples"] == 10 * k + 10 and st["frames"] + st["lost_frames"] == k
    with SessionReader(w.path) as r:
        assert not r.complete and r.n_samples >= st["samples"] > 0
        assert np.array_equal(np.asarray(r.emg_data)[:, 0], np.arange(r.n_samples) // 10)


def test_low_free_space_stops_cleanly(tmp_path, monkeypatch):
    """The writer stops before the disk is full and closes the file normally."""
    import shutil as _shutil
    import recorder.session.format as session
    calls = {"n": 0}
    real = _shutil.disk_usage

    def fake_disk_usage(p):
        calls["n"] += 1
        u = real(p)
        return u._replace(free=10_000_000 if calls["n"] > 3 else u.free)

    monkeypatch.setattr(session.shutil, "disk_usage", fake_disk_usage)
    errors = []
    w = SessionWriter(tmp_path / "low.h5", sample_rate_hz=100, channel_names=["a"], emg_dtype=np.int16, t0=0.0,
                      flush_interval_s=0.05, on_error=errors.append).start()
    k = 0
    while not errors and k < 200:
        w.add_emg(EmgChunk(np.full((10, 1), k, np.int16), np.arange(10 * k, 10 * k + 10) / 100, 10 * k, 0.0))
        k += 1
        time.sleep(0.01)
    w.add_emg(EmgChunk(np.zeros((10, 1), np.int16), np.zeros(10), 0, 0.0))
    w.close()
    assert errors and isinstance(w.error, OSError) and "disk almost full" in str(w.error)
    st = w.stats()
    assert st["samples"] > 0 and st["lost_samples"] >= 10 and st["samples"] + st["lost_samples"] == 10 * k + 10
    with SessionReader(w.path) as r:  # closed normally: no SWMR needed, marked incomplete
        assert not r.opened_swmr and not r.complete and r.n_samples == st["samples"]


def test_writer_rejects_bad_input_without_raising(tmp_path):
    w = SessionWriter(tmp_path / "r.h5", sample_rate_hz=100, channel_names=["a", "b"], emg_dtype=np.float32,
                      t0=0.0, video=False).start()
    w.add_emg(EmgChunk(np.zeros((4, 3), np.float32), np.arange(4.0), 0, 0.0))  # wrong channel count
    w.add_emg(EmgChunk(np.ones((4, 2), np.float32), np.arange(4.0), 0, 0.0))
    w.add_frame(Frame(np.zeros((4, 4, 3), np.uint8), 0.0, 0))  # video=False
    w.close()
    w.add_emg(EmgChunk(np.ones((4, 2), np.float32), np.arange(4.0), 4, 0.0))  # after close
    st = w.stats()
    assert st["samples"] == 4 and st["rejected"] == 2 and st["lost_samples"] == 4 and w.error is None
    with SessionReader(w.path) as r:
        assert r.n_samples == 4 and r.n_frames == 0 and r.emg_data.dtype == np.float32
        with pytest.raises(IndexError):
            r.frame(0)


def test_full_frame_queue_drops_live_frames_but_blocks_offline_writers(tmp_path):
    """Live capture never waits for the JPEG encoder (frames beyond the queue bound are dropped and
    counted); an offline writer (the synthetic-session generator) asks to wait and loses none."""
    img = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)  # slow to encode
    for block in (False, True):
        w = SessionWriter(tmp_path / f"q{block}.h5", sample_rate_hz=100, channel_names=["a"], t0=0.0,
                          max_queued_frames=2).start()
        for i in range(60):
            w.add_frame(Frame(img, i / 30, i), block=block)
        w.close()
        st = w.stats()
        with SessionReader(w.path) as r:
            assert r.n_frames + st["lost_frames"] == 60
            if block:
                assert r.n_frames == 60 and st["lost_frames"] == 0
            else:
                assert st["lost_frames"] > 0  # 60 frames queued at once against a bound of 2


def test_write_throughput(tmp_path):
    """Pre-encoded 640x480 JPEG-sized frames at full speed; reports MB/s (must beat a webcam by far)."""
    rng = np.random.default_rng(1)
    jpeg = rng.integers(0, 256, 60_000, dtype=np.uint8).tobytes()  # a typical 640x480 q85 frame
    w = SessionWriter(tmp_path / "tp.h5", sample_rate_hz=2000, channel_names=[f"c{i}" for i in range(16)],
                      emg_dtype=np.int32, t0=0.0).start()
    img = np.zeros((1, 1, 3), np.uint8)
    x = np.ones((200, 16), np.int32)
    t_start = time.perf_counter()
    for i in range(1500):
        w.add_frame(Frame(img, i / 30, i), jpeg=jpeg)
        w.add_emg(EmgChunk(x, np.arange(200 * i, 200 * i + 200) / 2000, 200 * i, 0.0))
        if i % 100 == 99:
            time.sleep(0.01)  # give the writer thread the GIL like a real capture loop would
    w.close()
    dt = time.perf_counter() - t_start
    mb = w.stats()["bytes"] / 1e6
    print(f"session write throughput: {mb / dt:.0f} MB/s ({mb:.0f} MB in {dt:.2f} s)")
    assert w.error is None and w.stats()["lost_frames"] == 0
    assert mb / dt > 20  # 30 fps x 60 kB = 1.8 MB/s is what a webcam needs
