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
            proc.wait(timeout=10)
        proc.stdout.close()


def test_missing_qt_system_libraries_are_named_with_the_install_command(monkeypatch):
    """On a fresh Linux desktop Qt names one library and aborts; `emgrec gui` names all of them."""
    from app.qt import syslibs

    ldd = ("\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x1)\n"
           "\tlibxcb-icccm.so.4 => not found\n\tlibxkbcommon-x11.so.0 => not found\n"
           "\tlibxcb-icccm.so.4 => not found\n\tlibdbus-1.so.3 => not found\n")
    assert syslibs.parse_ldd(ldd) == ["libxcb-icccm.so.4", "libxkbcommon-x11.so.0", "libdbus-1.so.3"]
    assert [syslibs.debian_package(s) for s in ("libxcb-icccm.so.4", "libxkbcommon-x11.so.0",
                                                "libdbus-1.so.3", "libEGL.so.1", "libxcb-render-util.so.0",
                                                "libglib-2.0.so.0")] == [
        "libxcb-icccm4", "libxkbcommon-x11-0", "libdbus-1-3", "libegl1", "libxcb-render-util0", "libglib2.0-0"]
    monkeypatch.setattr(syslibs, "missing_xcb_libraries", lambda: ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    monkeypatch.setattr(syslibs.shutil, "which", lambda name: "/usr/bin/" + name)
    msg = syslibs.check({"DISPLAY": ":0"})
    assert "libxcb-icccm.so.4 libxcb-keysyms.so.1" in msg
    assert "apt-get install -y libxcb-icccm4 libxcb-keysyms1" in msg
    assert syslibs.check({"QT_QPA_PLATFORM": "offscreen"}) == ""
    monkeypatch.setattr(syslibs, "missing_xcb_libraries", lambda: [])
    assert "xvfb-run" in syslibs.check({})          # no display: say how to get one
    # Every package the README names for Debian/Ubuntu is in the one list the message draws on.
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "apt-get install -y " + " ".join(syslibs.DEBIAN_PACKAGES) in readme
