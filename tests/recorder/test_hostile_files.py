"""Hostile and damaged session files (issue 15): crafted storage, declared sizes the file cannot
hold, truncated crash files, bit rot, malformed attributes and tables. Every case must end in a
SessionFormatError naming the file, never in a hang, a traceback, or made-up rows."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from recorder.session.format import SessionFormatError, SessionReader, SessionWriter
from recorder.imports.synthetic_sessions import make_synthetic_session
from recorder.core.types import EmgChunk, Frame

ROOT = Path(__file__).resolve().parents[2]
HANG_S = 60  # generous: a hang is minutes or forever; a loaded CI machine is a few seconds


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return make_synthetic_session(tmp_path_factory.mktemp("hostile") / "good.h5", duration_s=4, seed=3)


def _copy(good: Path, tmp_path: Path, name: str = "bad.h5") -> Path:
    p = tmp_path / name
    shutil.copyfile(good, p)
    return p


def _replace(f: h5py.File, name: str, **kw) -> None:
    del f[name]
    f.create_dataset(name, **kw)


def _cli(*args, timeout=HANG_S) -> subprocess.CompletedProcess:
    """Run ``emgrec ARGS`` in a subprocess: a hang fails the test instead of stalling the suite."""
    return subprocess.run([sys.executable, "-m", "recorder", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def _crash_copy(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A session as a SIGKILL leaves it: bytes copied while the writer still holds the file open
    (its consistency flags set, the last flush on disk). Returns (path, emg (N, 8), t (N,))."""
    n = 6000
    x = (np.arange(n * 8).reshape(n, 8) % 200 - 100).astype(np.int8)
    t = 1000.0 + 0.5 + np.arange(n) / 200.0
    live = tmp_path / "live.h5"
    w = SessionWriter(live, sample_rate_hz=200, channel_names=[f"c{i}" for i in range(8)], emg_dtype=np.int8,
                      t0=1000.0, flush_interval_s=0.1)
    w.start()
    try:
        w.add_emg(EmgChunk(x, t, 0, t[-1]))
        for i in range(20):
            w.add_frame(Frame(np.full((32, 32, 3), 9 * i, np.uint8), 1000.5 + i / 30, i))
        deadline = 200
        while w.stats()["samples"] < n and deadline:
            import time
            time.sleep(0.05)
            deadline -= 1
        out = tmp_path / "crash.h5"
        shutil.copyfile(live, out)
    finally:
        w.close()
    return out, x, t - 1000.0


# -- crafted storage -------------------------------------------------------------------------------
def test_external_raw_storage_is_refused(good, tmp_path):
    """A dataset whose raw bytes live in another file (here /etc/passwd) must not be read as EMG."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 100)
    p = _copy(good, tmp_path)
    with h5py.File(p, "r+") as f:
        n = f["emg/t"].shape[0]
        _replace(f, "emg/data", shape=(min(n, 400), 8), dtype="i1", external=[(str(secret), 0, 3200)])
        f["emg/data"].attrs.update({"sample_rate_hz": 200.0, "channel_names": [f"ch{i}" for i in range(1, 9)]})
    with pytest.raises(SessionFormatError, match="external file") as ei:
        with SessionReader(p) as r:
            np.asarray(r.emg_data)
    assert ei.value.path == p
    r = _cli("export", p, "--out", tmp_path / "x.npz", "-q")
    assert r.returncode == 1 and "external file" in r.stderr and str(p) in r.stderr


def test_external_and_soft_links_are_refused(good, tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["t"] = np.arange(10.0)
    p = _copy(good, tmp_path)
    with h5py.File(p, "r+") as f:
        del f["emg/t"]
        f["emg/t"] = h5py.ExternalLink(str(other), "/t")
    with pytest.raises(SessionFormatError, match="external link"):
        SessionReader(p)
    p2 = _copy(good, tmp_path, "soft.h5")
    with h5py.File(p2, "r+") as f:
        del f["labels"]
        f["labels"] = h5py.SoftLink("/markers")
    with pytest.raises(SessionFormatError, match="soft link"):
        SessionReader(p2)


def test_compression_filters_are_refused(good, tmp_path):
    """gzip would let a few kB declare gigabytes of rows."""
    p = _copy(good, tmp_path)
    with h5py.File(p, "r+") as f:
        _replace(f, "labels", data=np.zeros(10, f["markers"].dtype), compression="gzip")
    with pytest.raises(SessionFormatError, match="filter"):
        SessionReader(p)


# -- declared sizes, truncation ----------------------------------------------------------------------
def test_declared_extent_beyond_the_file_does_not_hang(good, tmp_path):
    """2^40 rows declared in a 0.5 MB file: rows past the last written chunk are not data."""
    p = _copy(good, tmp_path)
    with h5py.File(p, "r") as f:
        n = f["emg/t"].shape[0]
    with h5py.File(p, "r+") as f:
        for name in ("emg/data", "emg/t", "emg/gaps", "labels", "markers", "video/t", "landmarks/world"):
            f[name].resize(2 ** 40, axis=0)
    r = _cli("info", p)
    assert r.returncode == 0, r.stderr
    with SessionReader(p) as s:
        assert s.n_samples == n
        assert np.isfinite(s.emg_t).all()
        assert len(s.labels) < 100 and len(s.gaps) < 100


def test_truncated_crash_file_answers_fast_and_never_returns_unwritten_rows(tmp_path):
    crash, x, t = _crash_copy(tmp_path)
    with SessionReader(crash) as r:  # the untruncated crash copy reads back whole
        assert r.opened_swmr and r.n_samples == len(t)
        assert np.array_equal(np.asarray(r.emg_data), x)
    size = crash.stat().st_size
    for frac in (0.98, 0.9, 0.75, 0.5, 0.3, 0.1):
        p = tmp_path / f"trunc{int(frac * 100)}.h5"
        p.write_bytes(crash.read_bytes()[: int(size * frac)])
        r = _cli("info", p)  # used to sleep forever in HDF5's SWMR metadata retries
        assert r.returncode in (0, 1), r.stderr
        if r.returncode == 1:
            assert str(p) in r.stderr and "Traceback" not in r.stderr
        try:
            with SessionReader(p) as s:
                n = s.n_samples
                # Whatever is returned is what was written: never zeros read past the end of the file.
                np.testing.assert_array_equal(s.emg_t, t[:n])
                np.testing.assert_array_equal(np.asarray(s.emg_data), x[:n])
        except SessionFormatError as e:
            assert e.path == p


# -- bit rot -----------------------------------------------------------------------------------------
def test_bit_rot_in_a_chunk_is_a_session_format_error(good, tmp_path):
    p = _copy(good, tmp_path)
    with h5py.File(p, "r") as f:
        d = f["emg/data"]
        assert d.fletcher32, "the writer checksums every chunked dataset"
        info = d.id.get_chunk_info(0)
        with SessionReader(good) as r:
            before = np.asarray(r.emg_data)
    raw = bytearray(p.read_bytes())
    raw[info.byte_offset + 100] ^= 0x10
    p.write_bytes(bytes(raw))
    with SessionReader(p) as r:  # metadata is intact: it opens, and the damaged chunk refuses to read
        with pytest.raises(SessionFormatError, match="emg/data") as ei:
            np.asarray(r.emg_data)
        assert ei.value.path == p
        with pytest.raises(SessionFormatError):
            r.emg_data[:10]
    assert before.shape[0] > 0


# -- malformed attributes and tables ------------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.0, float("inf"), 1e300, -200.0, float("nan")])
def test_bad_sample_rate(good, tmp_path, rate):
    p = _copy(good, tmp_path)
    with h5py.File(p, "r+") as f:
        f["emg/data"].attrs["sample_rate_hz"] = rate
    with pytest.raises(SessionFormatError, match="sample_rate_hz"):
        SessionReader(p)


def _labels_as_floats(f):
    _replace(f, "labels", data=np.zeros((3, 3)), maxshape=(None, 3), chunks=(64, 3))


def _string_landmarks(f):
    n = f["landmarks/world"].shape[0]
    _replace(f, "landmarks/world", data=np.full((n, 21, 3), b"x", "S4"))


def _compound_emg(f):
    n = f["emg/data"].shape[0]
    attrs = dict(f["emg/data"].attrs)
    _replace(f, "emg/data", data=np.zeros((n, 8), [("a", "<f4"), ("b", "<i2")]))
    f["emg/data"].attrs.update(attrs)


def _vlen_label_names(f):
    _replace(f, "labels", shape=(2,), dtype=[("start_s", "<f8"), ("end_s", "<f8"), ("name", h5py.string_dtype())])


def _channel_names_number(f):
    f["emg/data"].attrs["channel_names"] = 3.5


@pytest.mark.parametrize("mutate, problem", [
    (_labels_as_floats, "/labels"), (_string_landmarks, "/landmarks/world"), (_compound_emg, "/emg/data"),
    (_vlen_label_names, "/labels"), (_channel_names_number, "channel_names"),
])
def test_malformed_datasets_name_the_file(good, tmp_path, mutate, problem):
    p = _copy(good, tmp_path)
    with h5py.File(p, "r+") as f:
        mutate(f)
    with pytest.raises(SessionFormatError, match=problem) as ei:
        with SessionReader(p) as r:
            r.summary(), r.labels, np.asarray(r.landmarks_world), np.asarray(r.emg_data)
    assert ei.value.path == p


def test_huge_declared_tables_do_not_exhaust_memory(good, tmp_path):
    """/labels and /emg/gaps declaring 2^33 rows used to raise MemoryError on a plain read."""
    p = _copy(good, tmp_path)
    with h5py.File(p, "r+") as f:
        f["labels"].resize(2 ** 33, axis=0)
        f["emg/gaps"].resize(2 ** 33, axis=0)
    with SessionReader(p) as r:
        assert len(r.labels) < 1000 and len(r.gaps) < 1000


def test_frame_that_makes_opencv_raise(good, tmp_path):
    """A stored "JPEG" that is a PNG declaring 10^10 pixels: cv2.imdecode raises cv2.error."""
    import cv2
    ok, buf = cv2.imencode(".png", np.full((8, 8, 3), 128, np.uint8))
    b = bytearray(buf.tobytes())
    b[16:24] = struct.pack(">II", 100000, 100000)
    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))
    p = _copy(good, tmp_path)
    with h5py.File(p, "r+") as f:
        off = int(f["video/jpeg_index"][0, 0])
        f["video/jpeg"][off: off + len(b)] = np.frombuffer(bytes(b), np.uint8)
        f["video/jpeg_index"][0, 1] = len(b)
    with SessionReader(p) as r:
        with pytest.raises(SessionFormatError, match="frame 0") as ei:
            r.frame(0)
        assert ei.value.path == p
        r.frame(1)  # the others still decode


def test_info_into_a_closed_pipe_is_quiet(good, tmp_path):
    """`emgrec info FILE --labels | head -1`: no BrokenPipeError traceback or error line."""
    from recorder.session.format import save_annotations
    p = _copy(good, tmp_path)
    save_annotations(p, [(i * 0.001, i * 0.001 + 0.0005, f"label-{i}") for i in range(3000)], [])
    proc = subprocess.Popen([sys.executable, "-m", "recorder", "info", str(p), "--labels"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    first = proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does after its line
    err = proc.stderr.read().decode()
    rc = proc.wait(HANG_S)
    proc.stderr.close()
    assert first.startswith(b"file")
    assert "Broken pipe" not in err and "BrokenPipeError" not in err and "Traceback" not in err, err
    assert rc == 141


def _as_older_file(p: Path) -> Path:
    """Rewrite ``p``'s string attributes as variable-length strings (h5py's default), without the
    root attribute checksum: a session as emgrec wrote it before fixed-length attributes. Their
    text then lives in global heaps, which HDF5 does not checksum."""
    with h5py.File(p, "r+") as f:
        objs = [f]
        f.visititems(lambda name, o: objs.append(o))
        for o in objs:
            for k in list(o.attrs.keys()):
                v = o.attrs[k]
                if isinstance(v, bytes):
                    o.attrs[k] = v.decode()
                elif isinstance(v, np.ndarray) and v.dtype.kind == "S":
                    o.attrs[k] = [x.decode() for x in v]
        if "attrs_checksum" in f.attrs:
            del f.attrs["attrs_checksum"]
    return p


def _zero_free_space_of_global_heap(raw: bytearray, start: int = 0) -> bytearray:
    """Set the size of the free-space object of the first global heap at or after byte ``start``
    (where an older file's attribute strings live) to 0: HDF5 2.0 then loops forever decoding it."""
    at = raw.find(b"GCOL", start)
    assert at >= 0
    end = at + int.from_bytes(raw[at + 8: at + 16], "little")
    p = at + 16
    while p + 16 <= end:
        idx, size = int.from_bytes(raw[p: p + 2], "little"), int.from_bytes(raw[p + 8: p + 16], "little")
        if idx == 0:
            raw[p + 8: p + 16] = bytes(8)
            return raw
        p += 16 + ((size + 7) & ~7)
    raise AssertionError("no free space object in the global heap")


def test_new_files_have_no_global_heap_and_a_verified_attribute_checksum(good, tmp_path):
    """Attributes are fixed-length strings (inside checksummed attribute messages) and the root ones
    carry attrs_checksum: no global heap for a damaged one to hang HDF5 in."""
    crash, _, _ = _crash_copy(tmp_path)
    for p in (good, crash):
        assert b"GCOL" not in p.read_bytes(), p
        with SessionReader(p) as r:
            assert r.attrs_checksum == "verified" and r.summary()["attrs_checksum"] == "verified"
            assert "attrs_checksum" not in r.attrs
    with SessionReader(good) as r:
        a = r.attrs
        assert a["subject"] == "synthetic-3" and a["format"] == "emg-hand-session" and a["complete"] is True
        assert isinstance(a["device"], dict) and r.channel_names[0] == "ch1" and r.units == "counts"


def test_damaged_global_heap_does_not_hang(good, tmp_path):
    p = _as_older_file(_copy(good, tmp_path, "older.h5"))
    p.write_bytes(bytes(_zero_free_space_of_global_heap(bytearray(p.read_bytes()))))
    r = _cli("info", p)  # used to spin forever inside HDF5
    assert r.returncode == 1 and "global heap" in r.stderr and str(p) in r.stderr, r.stderr


def test_damaged_global_heap_in_the_middle_of_a_big_file_does_not_hang(good, tmp_path):
    """An older file over 8 MB whose attribute was edited after 5 MB of data were written: its
    newest heap is more than 4 MB from both ends, where the head-and-tail scan did not look."""
    p = _as_older_file(_copy(good, tmp_path, "big.h5"))
    with h5py.File(p, "r+", libver=("v110", "v110")) as f:
        j = f["video/jpeg"]
        for step in range(2):
            n = j.shape[0]
            j.resize(n + (5 << 20), axis=0)
            j[n:] = 7
            f.flush()
            if step == 0:
                f.attrs["notes"] = "edited later"  # a variable-length string: a new heap at the end
    raw = bytearray(p.read_bytes())
    mid = raw.rfind(b"GCOL")
    assert (4 << 20) < mid < len(raw) - (4 << 20)
    p.write_bytes(bytes(_zero_free_space_of_global_heap(raw, mid)))
    r = _cli("info", p, timeout=30)  # used to spin forever inside HDF5
    assert r.returncode == 1 and "global heap" in r.stderr and str(p) in r.stderr, r.stderr


def test_older_files_read_with_no_checksum_and_repair_compat_adds_one(good, tmp_path):
    from recorder.session.format import repair
    p = _as_older_file(_copy(good, tmp_path, "older.h5"))
    with SessionReader(good) as r:
        want = r.attrs, r.channel_names, r.units
    with SessionReader(p) as r:
        assert r.attrs_checksum == "none (older file)"
        assert (r.attrs, r.channel_names, r.units) == want
    out = _cli("info", p)
    assert out.returncode == 0 and "no checksum (older file" in out.stdout, out.stdout + out.stderr
    res = repair(p, compat=True)
    assert res["action"] == "rewritten" and not res["unchecked_attrs"]
    assert b"GCOL" not in p.read_bytes()
    with SessionReader(p) as r:
        assert r.attrs_checksum == "verified"
        assert (r.channel_names, r.units) == want[1:]
        assert {k: v for k, v in r.attrs.items() if k != "recovered_utc"} == want[0]


def test_damage_hdf5_does_not_checksum_is_caught_by_the_attribute_checksum(tmp_path):
    """A root attribute over ~4 kB is a "huge object" of HDF5's fractal heap, which HDF5 does not
    checksum: a flipped bit in it used to come back as changed metadata without an error."""
    p = make_synthetic_session(tmp_path / "long.h5", duration_s=2, seed=3)
    from recorder.session.format import set_root_attrs
    with h5py.File(p, "r+") as f:
        set_root_attrs(f, {"notes": "N" * 6000})
    raw = bytearray(p.read_bytes())
    at = raw.find(b"N" * 64)
    assert at >= 0
    raw[at + 100] ^= 0x04
    p.write_bytes(bytes(raw))
    with h5py.File(p, "r") as f:  # HDF5 itself returns the changed text
        assert "J" in f.attrs["notes"].decode()  # "N" ^ 0x04
    with pytest.raises(SessionFormatError, match="do not match their checksum") as ei:
        SessionReader(p)
    assert ei.value.path == p


def test_root_attributes_changed_outside_emgrec_are_refused(good, tmp_path):
    p = _copy(good, tmp_path)
    with h5py.File(p, "r+") as f:
        f.attrs["subject"] = "someone else"
    with pytest.raises(SessionFormatError, match="do not match their checksum"):
        SessionReader(p)
    # The way out the message names keeps the edit and stamps the file again.
    from recorder.session.format import ATTRS_CHECKSUM, repair
    with h5py.File(p, "r+") as f:
        del f.attrs[ATTRS_CHECKSUM]
    assert SessionReader(p).attrs_checksum == "none (older file)"
    repair(p, compat=True)
    r = SessionReader(p)
    assert r.attrs_checksum == "verified" and r.attrs["subject"] == "someone else"


def test_tables_holding_too_many_rows_are_refused(good, tmp_path, monkeypatch):
    """Rows really stored beyond the cap (a huge /labels or /emg/gaps) are refused, not read."""
    import recorder.session.format as session
    p = _copy(good, tmp_path)
    with h5py.File(p, "r+") as f:
        f["emg/gaps"].resize(500, axis=0)
        f["emg/gaps"][:] = np.zeros((500, 2))
    monkeypatch.setattr(session, "MAX_TABLE_ROWS", 100)
    with pytest.raises(SessionFormatError, match="/emg/gaps holds 5"):
        SessionReader(p)
