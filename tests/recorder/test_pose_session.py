"""Sessions whose frames carry landmarks but no stored image (issue 10)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from recorder.session.format import SessionFormatError, SessionReader, SessionWriter
from recorder.core.types import EmgChunk, Frame, Landmarks

CH = [f"ch{i}" for i in range(4)]


def _record(path, store_images: bool, n_frames: int = 30):
    w = SessionWriter(path, sample_rate_hz=200, channel_names=CH, emg_dtype=np.int16, t0=0.0,
                      flush_interval_s=0.2, store_images=store_images)
    w.start()
    t = np.arange(400) / 200.0
    w.add_emg(EmgChunk(np.ones((400, 4), np.int16), t, 0, float(t[-1])))
    for i in range(n_frames):
        w.add_frame(Frame(np.full((40, 60, 3), 100, np.uint8), 0.05 + i / 30, i))
        w.add_landmarks(Landmarks(np.full((21, 3), 0.5, np.float32), np.full((21, 3), float(i), np.float32),
                                  0.9, "Right", 0.05 + i / 30, i))
    w.close()
    assert w.error is None
    return path


def test_frames_without_images_are_counted_by_time_and_landmarks(tmp_path):
    p = _record(tmp_path / "lm_only.h5", store_images=False)
    with SessionReader(p) as r:
        assert r.n_frames == 30
        assert not r.has_image().any()
        assert r.has_hand().all()
        assert np.asarray(r.landmarks_world)[7, 0, 0] == 7.0
        s = r.summary()
        assert s["frames"] == 30 and s["frames_with_image"] == 0 and s["frames_with_hand"] == 30
        assert r.attrs["video_storage"] == "none"
        with pytest.raises(SessionFormatError, match="frame 3 has no stored image"):
            r.frame(3)
    with h5py.File(p, "r") as f:
        assert f["video/jpeg"].shape == (0,)
        assert (f["video/jpeg_index"][:, 1] == 0).all()


def test_files_with_images_read_as_before(tmp_path):
    p = _record(tmp_path / "jpeg.h5", store_images=True)
    with SessionReader(p) as r:
        assert r.n_frames == 30 and r.has_image().all()
        assert r.frame(29).shape == (40, 60, 3)
    # An old (pre-issue-10) file has no video_storage attribute: same reading.
    with h5py.File(p, "r+") as f:
        del f.attrs["video_storage"]
        del f.attrs["attrs_checksum"]  # nor had such files a checksum over their attributes
    with SessionReader(p) as r:
        assert r.n_frames == 30 and r.has_image().all()


def test_unwritten_index_rows_still_end_the_frames(tmp_path):
    """A crashed writer's fill value (-1) is not 'no image': those rows are not frames."""
    p = _record(tmp_path / "crash.h5", store_images=False)
    with h5py.File(p, "r+") as f:
        f["video/jpeg_index"][20:] = -1
    with SessionReader(p) as r:
        assert r.n_frames == 20


def test_measured_rate_excludes_recorded_gaps(tmp_path):
    p = tmp_path / "gap.h5"
    w = SessionWriter(p, sample_rate_hz=200, channel_names=CH, emg_dtype=np.int16, t0=0.0, video=False)
    w.start()
    t = np.concatenate([np.arange(200) / 200.0, 3.0 + np.arange(200) / 200.0])
    w.add_emg(EmgChunk(np.zeros((400, 4), np.int16), t, 0, float(t[-1])))
    w.add_gap(200 / 200.0, 3.0)
    w.close()
    with SessionReader(p) as r:
        assert abs(r.summary()["measured_rate_hz"] - 200.0) < 1e-6


def test_cli_record_store_video_none(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "priv.h5"
    r = subprocess.run([sys.executable, "-m", "recorder", "record", "--duration", "2", "--store-video", "none",
                        "--out", str(out)], cwd=root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with SessionReader(out) as rd:
        assert rd.n_frames > 10 and not rd.has_image().any() and rd.has_hand().any()
