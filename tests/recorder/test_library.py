"""Session library (headless): scan a folder with good and broken files, rename, delete."""

import threading

import h5py
import numpy as np
import pytest

from recorder.session.library import delete_session, list_session_files, rename_session, scan, summarize
from recorder.imports.synthetic_sessions import make_synthetic_session


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("lib")
    make_synthetic_session(d / "b_session.h5", duration_s=4.0, seed=1, frame_rate=10, hand_dropout=0.25)
    make_synthetic_session(d / "a_session.h5", duration_s=2.0, seed=2, frame_rate=10)
    (d / "garbage.h5").write_bytes(b"this is not hdf5 at all" * 10)
    with h5py.File(d / "foreign.hdf5", "w") as f:  # valid HDF5, not a session
        f["x"] = np.arange(3)
    good = (d / "b_session.h5").read_bytes()
    (d / "truncated.h5").write_bytes(good[: len(good) // 3])
    (d / "notes.txt").write_text("ignored")
    (d / ".hidden.h5").write_bytes(b"")
    return d


def test_scan_lists_good_and_broken_files(folder):
    seen = []
    infos = scan(folder, progress=lambda p: seen.append((p.done, p.total, p.text)))
    names = [i.name for i in infos]
    assert names == ["a_session.h5", "b_session.h5", "foreign.hdf5", "garbage.h5", "truncated.h5"]
    assert seen[-1][:2] == (5, 5)
    by = {i.name: i for i in infos}

    b = by["b_session.h5"]
    assert b.ok and b.complete
    assert b.duration_s == pytest.approx(4.0, abs=0.11)
    assert b.subject == "synthetic-1" and b.device == "synthetic"
    assert b.channels == 8 and b.sample_rate_hz == 200.0 and b.samples == 800
    assert b.frames == 41
    assert 0.5 < b.hand_coverage < 0.95  # a quarter of the frames dropped the hand
    assert b.n_labels >= 1 and b.label_summary()
    assert b.size_bytes == (folder / "b_session.h5").stat().st_size
    assert len(b.date) == 16

    for bad in ("foreign.hdf5", "garbage.h5", "truncated.h5"):
        assert not by[bad].ok, bad
        assert by[bad].error
    assert "not an HDF5 file" in by["garbage.h5"].error
    assert "not an emgrec session" in by["foreign.hdf5"].error
    assert np.isnan(by["garbage.h5"].duration_s) and by["garbage.h5"].n_labels == 0


def test_scan_cancel_and_bad_folder(folder, tmp_path):
    cancel = threading.Event()
    cancel.set()
    assert scan(folder, cancel=cancel) == []
    with pytest.raises(FileNotFoundError):
        scan(tmp_path / "nope")
    with pytest.raises(NotADirectoryError):
        list_session_files(folder / "notes.txt")


def test_rename_and_delete(tmp_path, short_session, session_copy):
    p = session_copy(short_session, "one.h5")
    other = session_copy(short_session, "two.h5")
    q = rename_session(p, "subject7 fist")
    assert q == tmp_path / "subject7 fist.h5" and q.exists() and not p.exists()
    assert summarize(q).ok
    with pytest.raises(FileExistsError):
        rename_session(q, "two")
    assert other.exists() and q.exists()
    for bad in ("", "  ", "a/b", "..", ".hidden"):
        with pytest.raises(ValueError):
            rename_session(q, bad)
    assert rename_session(q, "subject7 fist.h5") == q
    with pytest.raises(FileNotFoundError):
        rename_session(tmp_path / "missing.h5", "x")

    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(ValueError):
        delete_session(tmp_path / "keep.txt")
    delete_session(q)
    assert not q.exists()
    with pytest.raises(FileNotFoundError):
        delete_session(q)
    assert [i.name for i in scan(tmp_path)] == ["two.h5"]
