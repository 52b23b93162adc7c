"""Files emgrec writes open in other HDF5 readers: every dataset of a recorded session, a repaired
crashed session and an HDF5 export is dumped with the HDF5 command-line tools (Debian's
``hdf5-tools``, HDF5 1.10) and compared value for value with what h5py / SessionReader read.

Before the format bounds were pinned (``libver="latest"`` with HDF5 2.0), ``h5dump`` 1.10 stopped
with "internal error" on every session and ``h5ls`` listed /labels and /markers as ``*ERROR*``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from recorder.session.format import SessionReader, SessionWriter, repair, save_annotations, save_landmarks
from recorder.imports.synthetic_sessions import make_synthetic_session

ROOT = Path(__file__).resolve().parents[2]
H5DUMP = shutil.which("h5dump")
needs_h5dump = pytest.mark.skipif(H5DUMP is None, reason="h5dump not installed (apt-get install hdf5-tools)")


def _tool_version() -> tuple[int, int]:
    out = subprocess.run([H5DUMP, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"(\d+)\.(\d+)", out)
    return (int(m[1]), int(m[2])) if m else (0, 0)


def _datasets(path: Path) -> dict[str, h5py.Dataset]:
    names = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return names


def _run_h5dump(path: Path, name: str, *opts: str) -> str:
    r = subprocess.run([H5DUMP, *opts, "-d", "/" + name, str(path)], capture_output=True, text=True, timeout=60,
                       errors="replace")
    assert r.returncode == 0 and "error" not in r.stderr.lower(), \
        f"h5dump cannot read /{name} of {path.name}:\n{r.stdout[-800:]}{r.stderr[-800:]}"
    return r.stdout


_ESC = re.compile(r"\\(\d+|.)")


def _unescape(s: str) -> bytes:
    """h5dump's string escapes (\\NNN octal, sign-extended for bytes >= 0x80) back to bytes."""
    out, pos = bytearray(), 0
    for m in _ESC.finditer(s):
        out += s[pos:m.start()].encode("latin-1")
        e = m[1]
        out.append(int(e, 8) & 0xFF if e.isdigit() else {"n": 10, "t": 9, "r": 13}.get(e, ord(e)))
        pos = m.end()
    out += s[pos:].encode("latin-1")
    return bytes(out)


def _h5dump_values(path: Path, name: str, dtype: np.dtype, shape: tuple, tmp: Path) -> np.ndarray:
    """The dataset as h5dump reads it. Numbers: raw little-endian binary output (-b LE) parsed with
    the dtype h5py reports. Compound tables (h5dump writes no binary for them): the text dump
    with full float precision, parsed into the same record dtype."""
    if dtype.names is None:
        out = tmp / (name.replace("/", "_") + ".bin")
        _run_h5dump(path, name, "-b", "LE", "-o", str(out))
        raw = out.read_bytes() if out.exists() else b""
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).reshape(shape)
    text = _run_h5dump(path, name, "-y", "-w", "0", "-m", "%.17g")
    body = text.split("DATA {", 1)[1].split("ATTRIBUTE", 1)[0]
    fields = [("num", r"\s*([-+0-9.eEinfa]+)\s*") if dtype[n].kind == "f" else ("str", r'\s*"((?:[^"\\]|\\.)*)"\s*')
              for n in dtype.names]
    rec = re.compile(r"\{" + ",".join(p for _, p in fields) + r"\}")
    rows = []
    for m in rec.finditer(body):
        rows.append(tuple(float(v) if kind == "num" else _unescape(v).rstrip(b"\0")
                          for (kind, _), v in zip(fields, m.groups())))
    return np.array(rows, dtype=dtype).reshape(shape)


def _check_readable(path: Path, tmp: Path) -> int:
    """Whole-file header dump and h5ls listing succeed; every dataset's values equal h5py's."""
    r = subprocess.run([H5DUMP, "-H", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"h5dump -H {path.name}: {r.stderr[-800:]}"
    h5ls = shutil.which("h5ls")
    if h5ls:
        r = subprocess.run([h5ls, "-r", str(path)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "ERROR" not in r.stdout, f"h5ls -r {path.name}:\n{r.stdout}{r.stderr}"
    names = _datasets(path)
    with h5py.File(path, "r") as f:
        for name in names:
            ds = f[name]
            want = ds[()]
            got = _h5dump_values(path, name, ds.dtype, ds.shape, tmp)
            if ds.dtype.kind == "f":
                assert np.array_equal(got, want, equal_nan=True), name
            else:
                assert np.array_equal(got, want), name
    return len(names)


def _check_session(path: Path, tmp: Path) -> None:
    assert _check_readable(path, tmp) == 13
    # ... and what h5dump reads is what SessionReader returns.
    with SessionReader(path) as r, h5py.File(path, "r") as f:
        n, nf = r.n_samples, r.n_frames
        assert n > 0 and nf > 0
        dumped = _h5dump_values(path, "emg/data", f["emg/data"].dtype, f["emg/data"].shape, tmp)
        assert np.array_equal(dumped[:n], np.asarray(r.emg_data))
        t = _h5dump_values(path, "emg/t", f["emg/t"].dtype, f["emg/t"].shape, tmp)
        assert np.array_equal(t[:n], r.emg_t)
        lab = _h5dump_values(path, "labels", f["labels"].dtype, f["labels"].shape, tmp)
        assert [(float(a), float(b), s.decode()) for a, b, s in lab] == r.labels
        mk = _h5dump_values(path, "markers", f["markers"].dtype, f["markers"].shape, tmp)
        assert [(float(a), s.decode()) for a, s in mk] == r.markers
        idx = _h5dump_values(path, "video/jpeg_index", f["video/jpeg_index"].dtype, f["video/jpeg_index"].shape, tmp)
        jpeg = _h5dump_values(path, "video/jpeg", f["video/jpeg"].dtype, f["video/jpeg"].shape, tmp)
        off, nb = idx[nf - 1]
        assert jpeg[off:off + nb].tobytes() == r.jpeg(nf - 1)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A synthetic recording, annotated and re-landmarked afterwards (every kind of save)."""
    p = make_synthetic_session(tmp_path_factory.mktemp("rec") / "s.h5", duration_s=12.0, seed=3,
                               gaps=[(5.0, 5.4)])
    with SessionReader(p) as r:
        labels = r.labels + [(0.5, 1.0, "pinch ✓")]
        img, world, score = (np.asarray(a) for a in (r.landmarks_image, r.landmarks_world, r.landmarks_score))
    save_annotations(p, labels, [(1.25, "marker text é"), (3.0, "second")])
    save_landmarks(p, img, world, score, settings={"redo": 1})
    return p


@needs_h5dump
def test_recorded_session_reads_in_hdf5_tools(recorded, tmp_path):
    _check_session(recorded, tmp_path)


@needs_h5dump
def test_repaired_crashed_session_reads_in_hdf5_tools(crashed_session, tmp_path):
    p = crashed_session
    with pytest.raises(OSError):
        h5py.File(p, "r").close()  # flagged open: only a SWMR reader gets in
    r = repair(p)
    assert r["action"] == "recovered" and r["samples"] == 3000 and r["frames"] == 40
    _check_session(p, tmp_path)


def test_docs_example_reads_a_session(recorded, tmp_path):
    """docs/session-format.md's "Reading a session without emgrec" block runs on a session."""
    doc = (ROOT / "docs" / "session-format.md").read_text()
    code = doc.split("## Reading a session without emgrec", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    shutil.copy(recorded, tmp_path / "session.h5")
    r = subprocess.run([sys.executable, "-c", code + "\nprint(len(t), x.shape, img.shape, world.shape, labels[:1])"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with SessionReader(recorded) as s:
        assert r.stdout.startswith(f"{s.n_samples} ({s.n_samples}, {len(s.channel_names)})")


@needs_h5dump
def test_hdf5_export_reads_in_hdf5_tools(recorded, tmp_path):
    from recorder.export.files import export
    out = tmp_path / "windows.h5"
    (res,) = export([recorded], out, "h5", window_ms=200.0)
    assert res.items > 0
    assert _check_readable(out, tmp_path) >= 8


@needs_h5dump
def test_repair_compat_rewrites_a_newest_format_file(tmp_path):
    """A file from before the pin (libver latest): emgrec still reads it; ``repair --compat``
    rewrites it so h5dump does too, with the same values and ``complete`` kept."""
    from recorder.cli.emgrec import main
    from recorder.core.types import EmgChunk
    p = tmp_path / "old.h5"
    w = SessionWriter(p, sample_rate_hz=100, channel_names=["a", "b"], t0=0.0, libver=("latest", "latest")).start()
    w.add_emg(EmgChunk(np.arange(400, dtype=np.int16).reshape(200, 2), np.arange(200) / 100, 0, 0.0))
    w.add_label(0.1, 0.2, "rest")
    w.add_marker(0.15, "m")
    w.close()
    with h5py.File(p, "r+") as f:  # files of earlier emgrec versions have no such attribute
        del f.attrs["hdf5_libver"]
        del f.attrs["attrs_checksum"]  # nor a checksum over their attributes
    with SessionReader(p) as r:
        before = (np.asarray(r.emg_data), r.emg_t, r.labels, r.markers, r.complete)
    old_tool = _tool_version() < (1, 12)
    if old_tool:
        assert subprocess.run([H5DUMP, "-H", str(p)], capture_output=True).returncode != 0
    os.chmod(p, 0o640)
    ino = p.stat().st_ino
    assert main(["repair", str(p)]) == 0
    assert p.stat().st_ino == ino  # closed normally: plain repair leaves it alone (and says --compat)
    assert main(["repair", "--compat", str(p)]) == 0
    assert p.stat().st_ino != ino
    assert oct(p.stat().st_mode & 0o777) == oct(0o640)
    with SessionReader(p) as r:
        after = (np.asarray(r.emg_data), r.emg_t, r.labels, r.markers, r.complete)
    assert np.array_equal(after[0], before[0]) and np.array_equal(after[1], before[1])
    assert after[2:] == before[2:] and after[4] is True
    _check_readable(p, tmp_path)
