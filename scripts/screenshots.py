"""Take the app's screenshots, and measure the live display's redraw rate.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--out docs/screenshots] [--shots capture,train]
    xvfb-run -a -s "-screen 0 1920x1080x24" env QT_QPA_PLATFORM=xcb python scripts/screenshots.py

Under X (``QT_QPA_PLATFORM=xcb``, a real or virtual display) the picture is read back from the X
server (QScreen.grabWindow): what a user's screen shows, fonts and all; offscreen it is the widget's
own rendering (QWidget.grab).

``capture``: connects the synthetic armband (8 channels through the Myo emulator and driver) and the
synthetic camera with landmarks, records to a temporary folder with the prompted protocol running,
and grabs the window (QWidget.grab) into ``capture.png`` during a hold, so the label held (the
protocol's) is the gesture prompted. (No key is pressed as well: the label box would show the
gesture twice, "fist  fist (protocol)".) Prints the measured
display redraw rate (frames/s) while recording.

``train``: writes a synthetic session (``--train-minutes``, default 10) and trains the default model
of :data:`recorder.model.training.DEFAULT_CONFIG` on it from the Train tab (the real subprocess run), then
grabs the finished run (curves, metrics beside the mean-pose baseline, per-finger bars) into
``train.png`` and prints the held-out figures (the default envelope_lstm trained in 38 s on 2 busy
cores; small_lstm took 23 min).

``calibrate``: trains a small dense pose model on an earlier synthetic session (``--train-minutes``,
another band placement), goes
live with it on the synthetic armband and camera, runs Calibrate… (``--calibrate-seconds`` of
calibration, then half as many to check on) and grabs the dialog with its report into
``calibrate.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHOTS = ("capture", "train", "calibrate")


def grab(w):
    """The window's picture: from the X server when there is one, else the widget's rendering."""
    from PySide6 import QtWidgets

    if QtWidgets.QApplication.platformName() == "xcb":
        wait(300)   # let the server show the last repaint
        return QtWidgets.QApplication.primaryScreen().grabWindow(int(w.winId()))
    return w.grab()


def wait(ms: int) -> None:
    """Run the Qt event loop for ``ms`` milliseconds (the app keeps drawing meanwhile)."""
    from PySide6 import QtCore

    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_signal(signal, timeout_s: float, trigger=None) -> list | None:
    """Call ``trigger()`` (if given) and run the event loop until ``signal`` fires; its arguments,
    or None after ``timeout_s``, or at once if ``trigger()`` returns False (nothing will come).
    Connected before the trigger, so a synchronous emit is not missed."""
    from PySide6 import QtCore

    loop = QtCore.QEventLoop()
    got: list = []

    def fired(*args):
        got.append(list(args))
        loop.quit()

    signal.connect(fired)
    QtCore.QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    try:
        if trigger is not None and trigger() is False:
            return got[0] if got else None
        if not got:
            loop.exec()
    finally:
        signal.disconnect(fired)
    return got[0] if got else None


def next_hold(protocol, timeout_s: float) -> str | None:
    """Run the event loop until the prompted protocol (a ProtocolView) starts holding a gesture;
    its name, or None after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        got = wait_signal(protocol.holding, left)
        if got and got[0]:
            return got[0]
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "screenshots"))
    p.add_argument("--shots", default=",".join(SHOTS), help=f"comma-separated, of: {', '.join(SHOTS)}")
    p.add_argument("--seconds", type=float, default=8.0,
                   help="capture: recording time before the grab (at least: it waits for the next hold)")
    p.add_argument("--emg", default="synthetic")
    p.add_argument("--camera", default="synthetic")
    p.add_argument("--train-minutes", type=float, default=10.0, help="train: length of the synthetic session")
    p.add_argument("--train-timeout", type=float, default=3600.0, help="train: give up after this many seconds")
    p.add_argument("--calibrate-seconds", type=int, default=30, help="calibrate: seconds to calibrate on")
    p.add_argument("--size", default="1600x950")
    a = p.parse_args(argv)
    shots = [s.strip() for s in a.shots.split(",") if s.strip()]
    unknown = set(shots) - set(SHOTS)
    if unknown:
        p.error(f"unknown shot(s) {', '.join(sorted(unknown))}; choose from {', '.join(SHOTS)}")

    from PySide6 import QtWidgets

    from app.main_window import apply_theme

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    apply_theme(app)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for shot in shots:
        rc = {"capture": shot_capture, "train": shot_train, "calibrate": shot_calibrate}[shot](a, out)
        if rc:
            return rc
    return 0


def _window(a, tmp: Path):
    """A main window of ``--size`` with its settings (output folder, subject metadata) in ``tmp``."""
    from app.main_window import MainWindow
    from app.qt.settings import Settings

    settings = Settings(tmp / "settings.ini")
    settings.set_output_dir(tmp)
    settings.set_metadata({"subject": "S01", "hand": "right", "placement": "logo up, 4 cm below elbow",
                           "notes": "screenshot session"})
    w = MainWindow(settings)
    width, height = (int(v) for v in a.size.split("x"))
    w.resize(width, height)
    w.show()
    return w


def shot_capture(a, out: Path) -> int:
    """Record with the synthetic devices and grab the Capture tab into capture.png."""
    from app.widgets.emg_plot import FpsMeter

    w = _window(a, Path(tempfile.mkdtemp(prefix="emgrec-shots-")))
    cv = w.capture_view
    try:
        wait_signal(cv.capture_changed, 60.0, lambda: cv.connect_sources(a.emg, a.camera))
        if cv.capture is None:
            print(f"could not connect: {cv.banner.label.text()}", file=sys.stderr)
            return 1
        wait(1500)
        cv.start_recording()
        cv.protocol.reps.setValue(3)
        cv.protocol.start()
        cv.fps = FpsMeter(window_s=max(2.0, a.seconds - 1.0))  # measure over the whole recording
        wait(int(max(0.0, a.seconds - 1.0) * 1000))
        p = cv.protocol.params()
        held = next_hold(cv.protocol, p["countdown_s"] + p["hold_s"] + p["rest_s"] + 5.0)
        if held is None:
            print("the prompted protocol never reached a hold", file=sys.stderr)
            return 1
        wait(int(1000 * min(1.0, p["hold_s"] / 2)))  # grab well inside the hold
        cv.refresh_status()
        fps = cv.redraw_fps
        grab(w).save(str(out / "capture.png"))
        print(f"display redraw rate while recording: {fps:.1f} frames/s "
              f"({cv.capture.emg.n_channels} channels at {cv.capture.emg.sample_rate_hz:g} Hz, "
              f"camera {'on' if cv.capture.camera else 'off'}, landmarks {'on' if cv.capture.landmarks else 'off'})")
        print(f"wrote {out / 'capture.png'}")
        return 0
    finally:
        w.close()


def shot_train(a, out: Path) -> int:
    """Train DEFAULT_CONFIG's model on a synthetic session from the Train tab; grab it into train.png."""
    from recorder.imports.synthetic_sessions import make_synthetic_session
    from recorder.model.training import DEFAULT_CONFIG, resolve_split

    tmp = Path(tempfile.mkdtemp(prefix="emgrec-shots-"))
    sessions = tmp / "sessions"
    sessions.mkdir()
    t = time.monotonic()
    make_synthetic_session(sessions / "S01_synthetic.h5", duration_s=a.train_minutes * 60.0, seed=0)
    print(f"wrote a {a.train_minutes:g} min synthetic session in {time.monotonic() - t:.0f} s")

    w = _window(a, tmp)
    v = w.train_view
    try:
        w.tabs.setCurrentWidget(v)
        v.model_dir.setText(str(tmp / "models"))
        v.set_session_folder(sessions)
        # Showing the tab also loads the engine and scans the settings' folder first (one worker,
        # in order): wait for this folder's list, not the first sessions_loaded.
        deadline = time.monotonic() + 60.0
        while v.session_list.count() == 0 and time.monotonic() < deadline:
            wait(100)
        if v.session_list.count() == 0:
            print(f"no sessions listed in {sessions}", file=sys.stderr)
            return 1
        v.session_list.selectAll()
        # The form shows the engine's defaults (the registry job ran before the folder scan, same pool);
        # the split "auto" of one session is "time", what the form offers.
        cfg = {**DEFAULT_CONFIG, "split": resolve_split(DEFAULT_CONFIG["split"], 1)}
        try:
            v.set_config(cfg)
        except ValueError as e:
            print(f"the Train tab cannot show the engine's defaults: {e}", file=sys.stderr)
            return 1
        t = time.monotonic()
        ended = wait_signal(v.training_ended, a.train_timeout, v.start_training)
        if ended is None and not v.runner.running:
            print(f"training did not start: {v.banner.text()}", file=sys.stderr)
            return 1
        if ended is None:
            v.cancel_training()
            print(f"training took longer than {a.train_timeout:g} s; cancelled", file=sys.stderr)
            return 1
        if ended[0] != "done":
            print(f"training {ended[0]}: {ended[1]}", file=sys.stderr)
            return 1
        # The models list refreshes after the run and selects the new model (its summary line).
        if not v.models:
            wait_signal(v.models_changed, 30.0)
        wait(1000)
        grab(w).save(str(out / "train.png"))
        took = time.monotonic() - t
        d = v.runner.done or {}
        rows = v.metric_rows()
        print(f"trained {cfg['model']['name']} ({cfg['data']['window_ms']:g} ms window) in {took:.0f} s: "
              f"best epoch {d.get('best_epoch')}, stopped: {d.get('stopped')}")
        for name in ("windows", "MPJPE (mm)", "mean-pose baseline (mm)", "ratio model / baseline", "R²"):
            print(f"  {name:24s} val {rows[name][0]:>8s}   test {rows[name][-1]:>8s}")
        print(f"wrote {out / 'train.png'}")
        return 0
    finally:
        w.close()



def shot_calibrate(a, out: Path) -> int:
    """Go live with a small model, run the Calibrate flow on the synthetic devices, grab its dialog."""
    from recorder.imports.synthetic_sessions import make_synthetic_session
    from recorder.model.training import train

    tmp = Path(tempfile.mkdtemp(prefix="emgrec-shots-"))
    t = time.monotonic()
    # An earlier session of the subject the live synthetic armband simulates (session 0): another
    # band placement, which is what calibration is for.
    s = make_synthetic_session(tmp / "earlier.h5", duration_s=a.train_minutes * 60.0, seed=0, session=1)
    cfg = {"task": "pose", "model": {"name": "dense"}, "train": {"epochs": 10, "threads": 1}}
    model = str(train(cfg, [s], tmp / "models" / "pose-dense-earlier").out_dir)
    print(f"trained the earlier model in {time.monotonic() - t:.0f} s")
    w = _window(a, tmp)
    try:
        w.train_view.model_dir.setText(str(tmp / "models"))
        cv = w.capture_view
        if wait_signal(cv.capture_changed, 60.0, lambda: cv.connect_sources(a.emg, a.camera)) is None:
            print("could not connect the sources", file=sys.stderr)
            return 1
        if wait_signal(w.live.model_loaded, 60.0, lambda: w.choose_live_model(model)) is None:
            print(f"could not load {model}", file=sys.stderr)
            return 1
        dlg = w.show_calibrate_dialog()
        dlg.calib_s.setValue(a.calibrate_seconds)
        dlg.test_s.setValue(max(5, a.calibrate_seconds // 2))
        ended = wait_signal(dlg.flow_ended, dlg.record_s + a.train_timeout, dlg.start)
        if ended is None or ended[0] != "done":
            print(f"calibration did not finish: {ended or dlg.banner.text()}", file=sys.stderr)
            return 1
        wait(1500)  # the calibrated model goes live meanwhile
        grab(dlg).save(str(out / "calibrate.png"))
        print("calibration report:", "; ".join(f"{k}: {' / '.join(v)}" for k, v in dlg.report_rows().items()))
        return 0
    finally:
        if w.calibrate_dlg is not None:
            w.calibrate_dlg.close()
        w.close()


if __name__ == "__main__":
    sys.exit(main())
