"""`emgrec record` as a user runs it: Ctrl-C (SIGINT) stops cleanly and keeps the file; `emgrec info`
summarises it."""
import signal
import subprocess
import sys
import time

from recorder.session.format import SessionReader


def test_ctrl_c_stops_and_keeps_the_file(tmp_path):
    out = tmp_path / "rec.h5"
    proc = subprocess.Popen([sys.executable, "-m", "recorder", "record", "--emg", "synthetic", "--camera", "synthetic",
                             "--out", str(out), "--subject", "S07"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Wait for progress lines (recording has started), then press Ctrl-C.
        deadline = time.monotonic() + 60
        lines = 0
        while lines < 6 and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines += " emg " in line
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert f"saved {out}" in stdout
    with SessionReader(out) as r:
        assert r.complete and r.attrs["subject"] == "S07"
        assert r.duration_s > 2.0 and r.n_frames > 5 * r.duration_s and r.n_samples > 400
    info = subprocess.run([sys.executable, "-m", "recorder", "info", str(out)], capture_output=True, text=True,
                          timeout=60)
    assert info.returncode == 0 and "EMG" in info.stdout and "S07" in info.stdout


def test_info_on_a_foreign_file_is_one_clear_line(tmp_path):
    bad = tmp_path / "notes.h5"
    bad.write_text("not hdf5")
    r = subprocess.run([sys.executable, "-m", "recorder", "info", str(bad)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    assert str(bad) in r.stderr and "Traceback" not in r.stderr


def test_duration_is_kept(tmp_path):
    """--duration 1.1 records 1.1 s, not until the next half-second progress tick (1.5 s)."""
    out = tmp_path / "d.h5"
    p = subprocess.run([sys.executable, "-m", "recorder", "record", "--emg", "synthetic", "--camera", "none",
                        "--landmarks", "none", "--duration", "1.1", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    with SessionReader(out) as r:
        assert 0.9 < r.duration_s < 1.1 + 0.25, r.duration_s


def test_a_video_files_first_frame_is_recorded(tmp_path):
    """--camera FILE: the video starts with the recording clock, so its first frames are stored
    (4-7 were consumed before the recording started)."""
    from .test_camera import _write_video

    video = _write_video(tmp_path / "v.avi", n=20, fps=20.0)
    out = tmp_path / "v.h5"
    p = subprocess.run([sys.executable, "-m", "recorder", "record", "--emg", "synthetic", "--camera", str(video),
                        "--landmarks", "none", "--duration", "2.0", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    with SessionReader(out) as r:
        idx = r.video_index
    assert len(idx) and idx[0] == 0, idx[:5]
