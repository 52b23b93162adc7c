"""`emgrec gui` (the README's first command) starts the window as its own program."""
import os
import signal
import subprocess
import sys


def test_emgrec_gui_starts_and_keeps_running(tmp_path):
    cmd = [sys.executable, "-m", "recorder", "gui", "--no-connect", "--settings", str(tmp_path / "s.ini")]
    # Own process group, so the window process that `emgrec gui` starts is stopped with it.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        # A window that failed to start would have exited (with a traceback) well within this time.
        rc = proc.wait(timeout=8)
        out = proc.stdout.read()
        raise AssertionError(f"emgrec gui exited early with {rc}:\n{out}")
    except subprocess.TimeoutExpired:
        pass
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
