import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real third-party data folder (../shared/data); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA


# -- shared synthetic sessions -----------------------------------------------------------------------
# Built once per test run (tmp_path_factory), read-only: a test that writes to a session takes a copy
# with ``session_copy``. Teardown fails if a test changed the file it was lent.
def _digest(path: Path) -> str:
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shared(tmp_path_factory, name: str, **kw):
    from recorder.imports.synthetic_sessions import make_synthetic_session
    p = make_synthetic_session(tmp_path_factory.mktemp(name) / f"{name}.h5", **kw)
    before = _digest(p)
    yield p
    assert _digest(p) == before, f"a test wrote to the shared read-only session {p}; use session_copy"


@pytest.fixture(scope="session")
def synthetic_session(tmp_path_factory) -> Path:
    """Read-only: 20 s of the seed-0 synthetic subject (8 ch int8 counts at 200 Hz, 4000 samples;
    601 frames at 30 fps with true landmarks and placeholder JPEGs), gesture-labelled by the
    subject's schedule (10 segments, the first ``rest``). Enough windows to train a tiny model;
    alone in its folder (a library scan of ``.parent`` finds only it)."""
    yield from _shared(tmp_path_factory, "synthetic", duration_s=20.0, seed=0)


@pytest.fixture(scope="session")
def short_session(tmp_path_factory) -> Path:
    """Read-only: 3 s of the seed-4 subject (600 samples at 200 Hz, 16 frames at 5 fps, two labels:
    ``rest`` then ``palm``), for tests of file handling that need a valid session, not much data."""
    yield from _shared(tmp_path_factory, "short", duration_s=3.0, seed=4, frame_rate=5.0)


@pytest.fixture(scope="session")
def camera_session(tmp_path_factory) -> Path:
    """Read-only: 3 s of the seed-3 subject with rendered hand frames (320x240, 31 frames at 10 fps,
    in which MediaPipe finds the hand), for video export and re-detection."""
    yield from _shared(tmp_path_factory, "camera", duration_s=3.0, seed=3, camera=True, frame_rate=10.0)


@pytest.fixture
def session_copy(tmp_path):
    """``session_copy(src, name="s.h5") -> Path``: a writable copy of a shared session in the test's
    ``tmp_path`` (the copy's write lock is free: only the ``.h5`` is copied)."""
    def copy(src: Path, name: str = "s.h5") -> Path:
        dst = tmp_path / name
        shutil.copyfile(src, dst)
        return dst
    return copy


_CRASH = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from recorder.session.format import SessionWriter
    from recorder.core.types import EmgChunk, Frame, Landmarks
    w = SessionWriter(sys.argv[1], sample_rate_hz=200, channel_names=["a", "b", "c"], t0=0.0,
                      flush_interval_s=0.1, metadata={"subject": "crash"}).start()
    for k in range(0, 3000, 25):
        w.add_emg(EmgChunk((np.arange(k, k + 25)[:, None] % 97 + np.arange(3)).astype(np.int16),
                           (k + np.arange(25)) / 200.0, k, 0.0))
    for i in range(40):
        w.add_frame(Frame(np.full((48, 64, 3), i * 5, np.uint8), i / 30, i))
        w.add_landmarks(Landmarks(np.full((21, 3), i / 100, np.float32), np.full((21, 3), i, np.float32),
                                  0.9, "Left", i / 30, i))
    w.add_label(1.0, 2.0, "fist")
    w.add_marker(1.5, "before the crash")
    w.add_gap(3.0, 3.5)
    time.sleep(1.0)
    os._exit(0)   # like SIGKILL: nothing closed, the file stays flagged open for write
""")


def crash_session(path: Path) -> Path:
    """Write ``path`` in a child process that exits without closing anything: 3000 samples (3 ch
    int16 at 200 Hz), 40 frames with landmarks, label ``fist`` 1-2 s, a marker at 1.5 s and a gap
    3.0-3.5 s; the file stays flagged open for write and its stale ``.NAME.lock`` sidecar stays."""
    subprocess.run([sys.executable, "-c", _CRASH, str(path)], check=True, timeout=60,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return path


@pytest.fixture(scope="session")
def _crashed_once(tmp_path_factory) -> Path:
    return crash_session(tmp_path_factory.mktemp("crashed") / "crashed.h5")


@pytest.fixture
def crashed_session(_crashed_once, tmp_path) -> Path:
    """A writable copy (``tmp_path/crashed.h5``, with its stale lock sidecar) of a session whose writer
    died (see :func:`crash_session`; the child runs once per test run). Only a SWMR reader opens it
    until it is recovered or repaired."""
    from recorder.session.writelock import lock_path
    dst = tmp_path / "crashed.h5"
    shutil.copyfile(_crashed_once, dst)
    if lock_path(_crashed_once).exists():
        shutil.copyfile(lock_path(_crashed_once), lock_path(dst))
    return dst
