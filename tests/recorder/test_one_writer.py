"""Never lose a recording (issue 15, data loss): one writer per session file, no silent
overwrites, ``emgrec repair`` of a crashed file, a non-zero exit after a disk-full stop."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from recorder.cli.emgrec import main
from recorder.session.format import (SessionBusyError, SessionFormatError, SessionReader, SessionWriter, recover, repair,
                              save_annotations, save_landmarks)
from recorder.core.types import EmgChunk
from recorder.session.writelock import holder, lock_path, unique_path

ROOT = Path(__file__).resolve().parents[2]

# A recorder in another process (as the app and a second `emgrec record` are): writes 200 Hz x 2
# in real time (sample k holds k), prints "started", and closes normally once it has written at
# least SECONDS and the stop file exists (so a slow, loaded machine cannot end it early).
_RECORDER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from recorder.session.format import SessionWriter
    from recorder.core.types import EmgChunk
    path, seconds = sys.argv[1], float(sys.argv[2])
    w = SessionWriter(path, sample_rate_hz=200, channel_names=["a", "b"], t0=0.0, flush_interval_s=0.1).start()
    print("started", flush=True)
    t0, k = time.monotonic(), 0
    while k < int(seconds * 200) or not os.path.exists(path + ".stop"):
        n = int((time.monotonic() - t0) * 200) - k
        if n > 0:
            w.add_emg(EmgChunk(np.arange(k, k + n, dtype=np.int16)[:, None].repeat(2, 1), (k + np.arange(n)) / 200,
                               k, 0.0))
            k += n
        time.sleep(0.02)
    w.close()
    print("error" if w.error else "ok", w.stats()["samples"], flush=True)
""")


def _start_recorder(path: Path, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", _RECORDER, str(path), str(seconds)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert p.stdout.readline().strip() == "started", p.stderr.read()
    return p


def _finish(p: subprocess.Popen, path: Path) -> str:
    Path(str(path) + ".stop").touch()
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    return out.strip()


def test_edits_of_a_file_being_recorded_are_refused_and_the_recording_survives(tmp_path, capsys, short_session):
    """Review's Save on a live recording used to recover() it and rename a copy over it: the
    recorder went on writing to the unlinked file (a 14 s take kept 3.5 s) and the mode became 0600."""
    path = tmp_path / "live.h5"
    os.umask(0o022)
    rec = _start_recorder(path, 1.0)
    try:
        time.sleep(0.5)
        ino = path.stat().st_ino
        info = holder(path)
        assert info is not None and info["pid"] == rec.pid and info["purpose"] == "a recording"
        with pytest.raises(SessionBusyError, match="cannot save annotations: .*live.h5 is open for writing by a "
                                                   "recording"):
            save_annotations(path, [(0.0, 0.5, "rest")], [])
        with pytest.raises(SessionBusyError, match="live.h5"):
            save_landmarks(path, np.zeros((0, 21, 3)), np.zeros((0, 21, 3)), np.zeros(0))
        with pytest.raises(SessionBusyError, match="cannot recover it"):
            recover(path)
        with pytest.raises(SessionBusyError, match="cannot repair it"):
            repair(path)
        from recorder.imports.tables import import_csv
        src = tmp_path / "emg.csv"
        src.write_text("a,b\n1,2\n3,4\n")
        with pytest.raises(SessionBusyError, match="cannot import into it"):
            import_csv(src, path, sample_rate_hz=100, emg_columns="0-1")
        from recorder.export.files import export_csv
        other = short_session
        with pytest.raises(SessionBusyError):
            export_csv(other, path)
        # Reading is fine (SWMR) and says it is being written.
        with SessionReader(path) as r:
            assert r.opened_swmr and not r.complete
        assert main(["info", str(path)]) == 0
        assert f"no: open for writing by a recording (process {rec.pid})" in capsys.readouterr().out
        from recorder.session.library import summarize
        li = summarize(path)
        assert li.ok and li.recording and not li.repairable
        assert path.stat().st_ino == ino
    finally:
        out = _finish(rec, path)
    n = int(out.split()[1])
    assert out.startswith("ok ") and n >= 200
    with SessionReader(path) as r:
        assert r.complete and r.n_samples == n and r.labels == []
        assert np.array_equal(np.asarray(r.emg_data)[:, 0], np.arange(n).astype(np.int16))
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert holder(path) is None and not lock_path(path).exists()
    save_annotations(path, [(0.0, 0.5, "rest")], [])  # now it may be edited
    with SessionReader(path) as r:
        assert r.labels == [(0.0, 0.5, "rest")] and r.n_samples == n


def test_second_recorder_on_one_path_is_refused_before_touching_the_file(tmp_path, capsys):
    path = tmp_path / "same.h5"
    rec = _start_recorder(path, 1.0)
    try:
        time.sleep(0.3)
        st = path.stat()
        with pytest.raises(SessionBusyError, match="cannot record: .*same.h5"):
            SessionWriter(path, sample_rate_hz=100, channel_names=["x"], t0=0.0).start()
        # `emgrec record --out same.h5 --force`: refused before any device starts.
        assert main(["record", "--emg", "synthetic", "--camera", "none", "--out", str(path), "--force"]) == 1
        assert "same.h5 is open for writing by a recording" in capsys.readouterr().err
        assert path.stat().st_ino == st.st_ino and path.stat().st_size >= st.st_size
    finally:
        out = _finish(rec, path)
    n = int(out.split()[1])
    assert out.startswith("ok ") and n >= 200
    with SessionReader(path) as r:
        assert r.complete and r.n_samples == n and r.channel_names == ["a", "b"]


def test_a_crashed_writer_never_blocks(crashed_session):
    """The kernel drops a dead writer's lock: the file can be repaired, annotated, re-recorded."""
    p = crashed_session
    assert lock_path(p).exists() and holder(p) is None  # stale sidecar, no holder
    from recorder.session.library import summarize
    li = summarize(p)
    assert li.repairable and not li.recording and not li.complete
    save_annotations(p, [(0.0, 1.0, "rest")], [])
    with SessionReader(p) as r:
        assert r.labels == [(0.0, 1.0, "rest")] and r.n_samples == 3000


def test_save_on_a_crashed_file_keeps_its_mode(crashed_session):
    """Recovering on save used mkstemp, so the session became 0600."""
    p = crashed_session
    os.chmod(p, 0o664)
    save_annotations(p, [], [(0.5, "m")])
    assert oct(p.stat().st_mode & 0o777) == oct(0o664)
    h5py.File(p, "r").close()


def test_repair_finalises_in_place_and_keeps_the_original_until_verified(crashed_session, tmp_path, monkeypatch, capsys):
    import recorder.session.format as session
    p = crashed_session
    os.chmod(p, 0o640)
    assert main(["info", str(p)]) == 0
    assert "not closed: 15.0 s recoverable (emgrec repair" in capsys.readouterr().out
    before = p.read_bytes()

    def bad_copy(r, copy):
        raise SessionFormatError(r.path, "repair copy differs; original left as it was")
    monkeypatch.setattr(session, "_verify_copy", bad_copy)
    assert main(["repair", str(p)]) == 1
    assert "original left as it was" in capsys.readouterr().err
    assert p.read_bytes() == before and sorted(x.name for x in tmp_path.iterdir()) == ["crashed.h5"]  # no copy left
    monkeypatch.undo()
    assert main(["repair", str(p)]) == 0
    assert "finalised" in capsys.readouterr().out
    with h5py.File(p, "r") as f:  # a plain open, no SWMR
        assert f["emg/data"].shape == (3000, 3) and f["labels"].shape == (1,)
    assert oct(p.stat().st_mode & 0o777) == oct(0o640)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["crashed.h5"]
    assert main(["repair", str(p)]) == 0 and "nothing to repair" in capsys.readouterr().out


def _session(path: Path) -> Path:
    w = SessionWriter(path, sample_rate_hz=100, channel_names=["a"], t0=0.0).start()
    w.add_emg(EmgChunk(np.ones((50, 1), np.int16), np.arange(50) / 100, 0, 0.0))
    w.close()
    return path


def test_no_silent_overwrites(tmp_path, capsys, short_session, session_copy):
    s = session_copy(short_session)
    existing = _session(tmp_path / "existing.h5")
    snap = {p: p.read_bytes() for p in (s, existing)}

    def refused(argv, message):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert message in err, err

    refused(["record", "--emg", "synthetic", "--out", str(existing)], f"{existing} exists (use --force")
    refused(["export", str(s), "--out", str(existing)], f"{existing} exists (use --force")
    for extra in ([], ["--force"]):
        refused(["export", str(s), "--format", "h5", "--out", str(s), *extra], f"{s} is also an input")
        refused(["export", str(s), "--format", "csv", "--out", str(tmp_path / "." / "s.h5"), *extra],
                "is also an input")
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text("{}")
    refused(["train", str(s), "--out", str(model), "--epochs", "1"], f"{model} exists (use --force")
    assert {p: p.read_bytes() for p in snap} == snap and (model / "model.json").read_text() == "{}"
    # With --force an existing (non-input) output is replaced.
    assert main(["export", str(s), "--format", "csv", "--out", str(existing), "--force", "-q"]) == 0
    assert existing.read_bytes()[:5] != snap[existing][:5]


def test_writer_without_overwrite_keeps_a_file_that_appeared(tmp_path):
    """`emgrec record` checks --out before the device connects; a file created there meanwhile (say
    by another recorder that has finished) is kept, not truncated, when the writer starts."""
    p = _session(tmp_path / "late.h5")
    before = p.read_bytes()
    with pytest.raises(FileExistsError, match="late.h5 exists"):
        SessionWriter(p, sample_rate_hz=100, channel_names=["a"], t0=0.0, overwrite=False).start()
    assert p.read_bytes() == before and holder(p) is None


def test_unique_default_names(tmp_path):
    a = unique_path(tmp_path, "session")
    a.write_bytes(b"")
    b = unique_path(tmp_path, "session")
    assert b != a and not b.exists() and b.name.startswith(a.stem)
    lock_path(b).write_text("")  # a writer about to create it
    c = unique_path(tmp_path, "session", sep="_")
    assert c not in (a, b) and "_" in c.name


def test_disk_full_stop_exits_non_zero(tmp_path, monkeypatch, capsys):
    """`emgrec record` used to print 'recording stopped' and exit 0 after the writer stopped."""
    import shutil
    import recorder.session.format as session
    real = shutil.disk_usage
    calls = {"n": 0}

    def low(p):
        calls["n"] += 1
        u = real(p)
        return u._replace(free=1_000_000 if calls["n"] > 2 else u.free)
    monkeypatch.setattr(session.shutil, "disk_usage", low)
    out = tmp_path / "full.h5"
    rc = main(["record", "--emg", "synthetic", "--camera", "none", "--landmarks", "none", "--duration", "20",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "recording stopped early" in err and "disk almost full" in err, err
    with SessionReader(out) as r:
        assert not r.complete and r.n_samples > 0
