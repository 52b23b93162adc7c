"""Take the app's screenshots offscreen, and measure the live display's redraw rate.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--out docs/screenshots] [--seconds 8]

Connects the synthetic armband (8 channels through the Myo emulator and driver) and the synthetic
camera with landmarks, records to a temporary folder with a label held and the prompted protocol
running, and grabs the window (QWidget.grab) into ``capture.png``. Prints the measured display
redraw rate (frames/s) while recording.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "screenshots"))
    p.add_argument("--seconds", type=float, default=8.0, help="recording time before the grab")
    p.add_argument("--emg", default="synthetic")
    p.add_argument("--camera", default="synthetic")
    p.add_argument("--size", default="1600x950")
    a = p.parse_args(argv)

    from PySide6 import QtCore, QtWidgets

    from app.emg_plot import FpsMeter
    from app.main_window import MainWindow, apply_theme
    from app.settings import Settings

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    apply_theme(app)
    tmp = Path(tempfile.mkdtemp(prefix="emgrec-shots-"))
    settings = Settings(tmp / "settings.ini")
    settings.set_output_dir(tmp)
    settings.set_metadata({"subject": "S01", "hand": "right", "placement": "logo up, 4 cm below elbow",
                           "notes": "screenshot session"})
    w = MainWindow(settings)
    width, height = (int(v) for v in a.size.split("x"))
    w.resize(width, height)
    w.show()
    cv = w.capture_view

    def wait(ms: int) -> None:
        loop = QtCore.QEventLoop()
        QtCore.QTimer.singleShot(ms, loop.quit)
        loop.exec()

    ready = QtCore.QEventLoop()
    cv.capture_changed.connect(lambda c: ready.quit())
    QtCore.QTimer.singleShot(60000, ready.quit)
    cv.connect_sources(a.emg, a.camera)
    ready.exec()
    if cv.capture is None:
        print(f"could not connect: {cv.banner.label.text()}", file=sys.stderr)
        w.close()
        return 1
    wait(1500)
    cv.start_recording()
    cv.protocol.reps.setValue(3)
    cv.protocol.start()
    cv.fps = FpsMeter(window_s=max(2.0, a.seconds - 1.0))  # measure over the whole recording
    wait(int(a.seconds * 1000 * 0.6))
    cv.labels.press("fist")
    wait(int(a.seconds * 1000 * 0.4))
    cv.refresh_status()
    fps = cv.redraw_fps
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(out / "capture.png"))
    cv.labels.release_all()
    print(f"display redraw rate while recording: {fps:.1f} frames/s "
          f"({cv.capture.emg.n_channels} channels at {cv.capture.emg.sample_rate_hz:g} Hz, "
          f"camera {'on' if cv.capture.camera else 'off'}, landmarks {'on' if cv.capture.landmarks else 'off'})")
    print(f"wrote {out / 'capture.png'}")
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
