"""`emgrec redetect`: MediaPipe again over a session's stored frames replaces its landmarks and
nothing else; a session without frames is refused naming the file."""
import h5py
import numpy as np

from recorder.cli.emgrec import main
from recorder.session.format import SessionReader, SessionWriter


def _raw(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][:].tobytes() for k in ("emg/data", "emg/t", "video/jpeg", "video/t")}


def test_redetect_replaces_the_landmarks_only(capsys, camera_session, session_copy):
    p = session_copy(camera_session, "cam.h5")
    with SessionReader(p) as r:
        truth, n = np.asarray(r.landmarks_world), r.n_frames
    raw = _raw(p)
    assert main(["redetect", str(p), "--model-complexity", "0"]) == 0
    out = capsys.readouterr().out
    assert f"{p}: {n} frames, a hand in" in out
    with SessionReader(p) as r:
        found = r.has_hand()
        assert found.mean() > 0.5, "MediaPipe should find the rendered hand in most frames"
        assert not np.allclose(np.asarray(r.landmarks_world)[found], truth[found])  # MediaPipe's, not the truth
        assert '"model_complexity": 0' in r.attrs["landmarks_settings"]
    assert _raw(p) == raw


def test_redetect_refuses_a_session_without_frames(tmp_path, capsys):
    p = tmp_path / "emg_only.h5"
    w = SessionWriter(p, sample_rate_hz=200.0, channel_names=[f"ch{i}" for i in range(8)], t0=0.0, video=False)
    w.close()
    assert main(["redetect", str(p)]) == 1
    assert str(p) in capsys.readouterr().err
