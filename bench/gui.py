"""GUI: start-up time of ``python -m app`` (window, first traces); the capture view's redraw rate
while recording (offscreen Qt), read from the app's own FpsMeter (``CaptureView.redraw_fps``),
sampled once a second."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .core import Context, Row

GROUP = "gui"


def startup(ctx: Context) -> list[Row]:
    """``python -m app`` as a user starts it (own process, synthetic armband and camera): seconds
    from the process start to the first event-loop pass after the window is shown, and to the
    first EMG trace drawn (the app prints both when EMGREC_STARTUP_PROBE is set, then quits)."""
    import subprocess
    import sys

    runs = ctx.pick(3, 5)
    env = dict(os.environ, EMGREC_STARTUP_PROBE="1")
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="emgrec-bench-startup-", dir=ctx.workdir))
    window, traces, fails = [], [], []
    for k in range(runs):
        t0 = time.monotonic()   # CLOCK_MONOTONIC: the same clock in the child on Linux
        try:
            out = subprocess.run([sys.executable, "-m", "app", "--settings", str(tmp / f"s{k}.ini")], env=env,
                                 capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
        except subprocess.TimeoutExpired:
            fails.append("timeout")
            continue
        ts = {ln.split()[1]: float(ln.split()[2]) - t0 for ln in out.stdout.splitlines()
              if ln.startswith("startup ") and len(ln.split()) == 3}
        if "window" in ts and "traces" in ts:
            window.append(ts["window"])
            traces.append(ts["traces"])
        else:
            fails.append(f"rc {out.returncode}: {out.stderr.strip()[-200:]}")
    note = (f"median of {len(window)} launches ({os.environ.get('QT_QPA_PLATFORM', 'offscreen')} Qt); "
            f"torch loads after the window, scipy.signal on a thread"
            + (f"; failed: {fails}" if fails else ""))
    med = (lambda v: float(np.median(v)) if v else None)
    return [Row(GROUP, "start-up: window shown", med(window), "s", "< 2", note=note),
            Row(GROUP, "start-up: EMG traces streaming", med(traces), "s", "< 4",
                note=f"all runs: {[round(v, 2) for v in traces]}")]


def run(ctx: Context) -> list[Row]:
    rows = startup(ctx)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from PySide6 import QtWidgets

        from app.main_window import MainWindow
        from app.qt.settings import Settings
    except ImportError as e:
        return rows + [Row(GROUP, "redraw rate", None, status="not yet measured", note=f"app not importable: {e}")]
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="emgrec-bench-gui-", dir=ctx.workdir))
    settings = Settings(tmp / "settings.ini")
    settings.set_output_dir(tmp / "sessions")
    w = MainWindow(settings)
    w.show()
    cv = w.capture_view

    pump = pump_events

    cv.connect_sources("synthetic", "synthetic", "none")  # the ideal subject, as before the realistic default
    if not pump(60, lambda: cv.capture is not None):
        w.close()
        return rows + [Row(GROUP, "redraw rate while recording", None, status="FAIL", note="capture did not connect")]
    pump(3)
    # Steady state: the window defers scipy.signal and the training engine (torch) to after it shows
    # (start-up rows above); those imports hold the GIL for 2-4 s once, so redraw is measured after them.
    t_imp = time.monotonic()
    imports_done = pump(60, lambda: deferred_imports_done(w))
    t_imp = time.monotonic() - t_imp
    ok = cv.start_recording()
    fps = []
    end = time.monotonic() + ctx.pick(15.0, 60.0)
    n0, c0 = cv.fps.count, time.thread_time()
    while time.monotonic() < end:
        pump(1.0)
        fps.append(cv.redraw_fps)
    cpu = _cpu_per_frame(c0, cv.fps.count - n0)
    rec = cv.capture.recording if cv.capture is not None else False
    cv.stop_recording()
    pump(2)
    a = np.asarray(fps[2:] or fps)
    rows += [Row(GROUP, "redraw rate while recording (mean)", float(a.mean()), "fps", ">= 60",
                note=f"offscreen Qt, synthetic Myo + camera; recording started: {ok}, "
                     f"still recording at the end: {rec}; measured after the deferred imports "
                     f"({'done' if imports_done else 'NOT done'} {t_imp:.1f} s after connect + 3 s)"),
            Row(GROUP, "redraw rate while recording (worst 1 s)", float(a.min()), "fps", ">= 30"),
            Row(GROUP, "GUI thread CPU per redraw while recording", cpu, "ms",
                note="time.thread_time of the GUI thread over the span / redraws: everything it did "
                     "(traces, camera, event loop), little changed by the machine's other load")]
    rows += _dense_source(ctx, w, pump)
    rows += _live_overlay(ctx, w, tmp, pump)
    w.close()
    pump(1)
    return rows


def _dense_source(ctx: Context, w, pump) -> list[Row]:
    """Redraw rate with a 16-channel 2 kHz source plus the synthetic camera (not recording); then
    the window is reconnected to the synthetic Myo for what follows."""
    cv = w.capture_view
    cv.disconnect_sources()
    if not pump(30, lambda: cv.capture is None and not cv._busy):
        return [Row(GROUP, "redraw rate, 16 ch x 2 kHz + camera (mean)", None, status="FAIL",
                    note="did not disconnect")]
    cv.connect_sources("synthetic:2000x16", "synthetic", "none")
    if not pump(60, lambda: cv.capture is not None):
        return [Row(GROUP, "redraw rate, 16 ch x 2 kHz + camera (mean)", None, status="FAIL",
                    note="did not connect")]
    pump(2)
    fps = []
    end = time.monotonic() + ctx.pick(8.0, 30.0)
    n0, c0 = cv.fps.count, time.thread_time()
    while time.monotonic() < end:
        pump(1.0)
        fps.append(cv.redraw_fps)
    cpu = _cpu_per_frame(c0, cv.fps.count - n0)
    a = np.asarray(fps[2:] or fps)
    n = cv.plot.n_points
    cv.disconnect_sources()
    pump(30, lambda: cv.capture is None and not cv._busy)
    cv.connect_sources("synthetic", "synthetic", "none")  # the ideal subject, as before the realistic default
    pump(60, lambda: cv.capture is not None)
    return [Row(GROUP, "redraw rate, 16 ch x 2 kHz + camera (mean)", float(a.mean()), "fps", ">= 60",
                note=f"{n} points per trace in the 5 s window (min/max per pixel column; each frame "
                     f"draws only the new columns)"),
            Row(GROUP, "redraw rate, 16 ch x 2 kHz + camera (worst 1 s)", float(a.min()), "fps", ">= 30"),
            Row(GROUP, "GUI thread CPU per redraw, 16 ch x 2 kHz + camera", cpu, "ms",
                note="as for the recording row above")]


def _cpu_per_frame(c0: float, frames: int) -> float | None:
    """GUI-thread CPU ms per redraw since ``c0`` (time.thread_time: the bench pumps the GUI's event
    loop on this thread)."""
    return (time.thread_time() - c0) / frames * 1e3 if frames > 0 else None


def deferred_imports_done(w) -> bool:
    """True once what the main window ``w`` loads after it shows is done: scipy.signal, and the
    Train tab's engine with its jobs (the architecture list comes first, but the model-list job
    was still importing torch's submodules, ~770 modules over 2-4 s, holding the GIL)."""
    from app.widgets import emg_plot
    tv = w.train_view
    return emg_plot._signal_module is not None and tv.model.count() > 0 and not tv.pool.busy


def pump_events(seconds: float, until=None) -> bool:
    """Run the real Qt event loop (as app.exec() does: it wakes on posted events at once) for
    ``seconds``, or until ``until()`` is true (checked every 10 ms); True unless ``until`` timed out."""
    from PySide6 import QtCore
    loop = QtCore.QEventLoop()
    done = {"ok": until is None}
    end = QtCore.QTimer(singleShot=True, interval=int(seconds * 1000))
    end.timeout.connect(loop.quit)
    check = QtCore.QTimer(interval=10)
    if until is not None:
        def poll():
            if until():
                done["ok"] = True
                loop.quit()
        check.timeout.connect(poll)
        check.start()
    end.start()
    loop.exec()
    check.stop()
    end.stop()
    return done["ok"]


def _live_overlay(ctx: Context, w, tmp: Path, pump) -> list[Row]:
    """EMG chunk arrival -> predicted hand painted over the camera image, with the app's own probe
    (LivePreview.latency_stats), for a small pose model trained on the same synthetic subject."""
    from recorder.imports.synthetic_sessions import make_synthetic_session
    from recorder.model.training import train

    s = make_synthetic_session(tmp / "live.h5", duration_s=30.0, seed=0)
    cfg = {"task": "pose", "model": {"name": "small_lstm"}, "train": {"epochs": 2, "threads": 1}}
    model = train(cfg, [s], tmp / "live-model").out_dir
    w.live.set_model(str(model))
    pump(ctx.pick(10.0, 30.0), None)
    st = w.live.latency_stats()
    ov, pr = st["overlay"], st["prediction"]
    note = f"small_lstm, {st['rate_hz']:.1f} predictions/s, {ov.get('n', 0)} overlays in the window"
    return [Row(GROUP, "live preview: EMG arrival -> overlay painted p50", ov.get("p50_ms"), "ms", note=note),
            Row(GROUP, "live preview: EMG arrival -> overlay painted p95", ov.get("p95_ms"), "ms", "< 16"),
            Row(GROUP, "live preview: EMG arrival -> prediction p95", pr.get("p95_ms"), "ms")]
