"""Emulator port folders (/tmp/emgrec-emu-*) do not pile up when an emulator process is SIGKILLed."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from recorder.sources.pty_port import PtyEmulator

ROOT = Path(__file__).resolve().parents[2]
CHILD = ("import sys, time\n"
         "from recorder.sources.pty_port import PtyEmulator\n"
         "e = PtyEmulator('tty').start()\n"
         "print(e.port, flush=True)\n"
         "time.sleep(60)\n")


def test_folder_of_a_killed_emulator_is_removed_by_the_next_one():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    try:
        port = Path(proc.stdout.readline().strip())
        assert port.parent.is_dir() and port.parent.name.startswith("emgrec-emu-")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    assert port.parent.is_dir()  # nothing in the killed process could clean up
    e = PtyEmulator("tty")
    try:
        assert not port.parent.exists()
        assert Path(e.port).parent.is_dir()  # a live emulator's folder is kept
    finally:
        e.close()
    assert not Path(e.port).parent.exists()
