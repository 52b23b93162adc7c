"""``python -m app [--emg SPEC] [--camera SPEC] [--realism none|realistic]``: the desktop app (same as ``emgrec gui``)."""

from __future__ import annotations

import argparse
import os
import sys


def run(emg: str | None = "synthetic", camera: str | None = "synthetic", connect: bool = True,
        settings_path: str | None = None, realism: str | None = None) -> int:
    """Open the main window and, if ``connect``, connect the given sources (a synthetic subject with
    ``realism``; None: the Sources panel's choice); returns the exit code."""
    from app.qt import syslibs

    problem = syslibs.check()
    if problem:
        # Qt would abort with a message naming one library of the dozen; say all and how to install.
        sys.stderr.write(problem)
        return 1
    from PySide6 import QtWidgets

    from app.main_window import MainWindow, apply_theme
    from app.qt.settings import Settings

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("emgrec")
    app.setOrganizationName("emgrec")
    apply_theme(app)
    win = MainWindow(Settings(settings_path))
    win.show()
    if connect:
        win.capture_view.connect_sources(emg, camera, realism)
    if os.environ.get("EMGREC_STARTUP_PROBE"):
        _startup_probe(app, win)
    return app.exec()


def _startup_probe(app, win) -> None:
    """bench/gui.py: print host-monotonic times of the first event-loop pass after show (the window
    is on screen) and of the first EMG trace drawn, then quit."""
    import time

    from PySide6 import QtCore

    QtCore.QTimer.singleShot(0, lambda: print(f"startup window {time.monotonic():.6f}", flush=True))
    win.capture_view.capture_changed.connect(
        lambda cap: cap is not None and print(f"startup connected {time.monotonic():.6f}", flush=True))
    poll = QtCore.QTimer(win, interval=5)

    def check():
        if win.capture_view.plot.n_points > 0:
            poll.stop()
            print(f"startup traces {time.monotonic():.6f}", flush=True)
            win.close()
            app.quit()
    poll.timeout.connect(check)
    poll.start()


def main(argv: list[str] | None = None) -> int:
    from recorder.sources.factory import DEMO_REALISM, REALISM_CHOICES  # names only: no device opened

    p = argparse.ArgumentParser(prog="python -m app", description=__doc__.split("\n")[0])
    p.add_argument("--emg", default="synthetic", help="EMG source spec (default: synthetic)")
    p.add_argument("--camera", default="synthetic", help="camera spec: synthetic | none | INDEX | FILE")
    p.add_argument("--realism", choices=REALISM_CHOICES,
                   help=f"the synthetic subject: {' | '.join(REALISM_CHOICES)} (default: the Sources panel's "
                        f"last choice, {DEMO_REALISM} at first)")
    p.add_argument("--no-connect", action="store_true", help="open without connecting")
    p.add_argument("--settings", help="INI file for settings (default: the user's settings)")
    a = p.parse_args(argv)
    return run(a.emg, a.camera, not a.no_connect, a.settings, a.realism)


if __name__ == "__main__":
    sys.exit(main())
