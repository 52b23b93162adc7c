"""Where the GUI thread's time goes per display frame of the Capture tab, for A/B runs of the live
display (old tree vs new tree on PYTHONPATH, in one process each, run back to back)::

    PYTHONPATH=TREE QT_QPA_PLATFORM=offscreen python bench/gui_frame_ab.py [--emg synthetic:2000x16]
        [--seconds 8] [--label NAME] [--profile]

Prints one JSON line: redraws per second (the app's FpsMeter), and per display frame the GUI
thread's CPU time (``time.thread_time``) and wall time of: the redraw tick (ring-buffer read,
the traces' update, spectrogram, quality tags, camera frame hand-over), the
paint of the EMG plot, of the spectrogram and of the camera view, and everything the GUI thread
did in the span (``gui_thread_cpu_ms_per_frame``: the event loop, layout, flushes included).
Thread CPU time is what the machine's other load does not inflate much; wall time is reported too.
The stages are read by wrapping methods here, so the same driver measures trees without probes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


class _Acc:
    """Per-call (cpu s, wall s) samples of one wrapped stage."""

    def __init__(self):
        self.on = False
        self.cpu: list[float] = []
        self.wall: list[float] = []

    def wrap(self, fn):
        acc = self

        def wrapper(*a, **k):
            if not acc.on:
                return fn(*a, **k)
            c0, w0 = time.thread_time(), time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                acc.cpu.append(time.thread_time() - c0)
                acc.wall.append(time.perf_counter() - w0)
        return wrapper

    def per_frame(self, frames: int) -> dict:
        c, w = np.asarray(self.cpu) * 1e3, np.asarray(self.wall) * 1e3
        if c.size == 0:
            return {"n": 0}
        return {"n": int(c.size), "cpu_ms_per_frame": round(float(c.sum()) / max(frames, 1), 3),
                "cpu_ms_p50": round(float(np.median(c)), 3), "cpu_ms_p95": round(float(np.percentile(c, 95)), 3),
                "wall_ms_per_frame": round(float(w.sum()) / max(frames, 1), 3),
                "wall_ms_p95": round(float(np.percentile(w, 95)), 3)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--emg", default="synthetic:2000x16")
    ap.add_argument("--camera", default="synthetic")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--label", default="")
    ap.add_argument("--size", default="1600x950", help="window size WxH (the app's default)")
    ap.add_argument("--profile", action="store_true", help="cProfile the GUI thread over the span (stderr)")
    ap.add_argument("--grab", help="save the window and the EMG plot as PNG files with this path prefix")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import psutil
    from PySide6 import QtWidgets

    import app.capture.view as viewmod
    import app.widgets.camera_view as cammod
    import app.widgets.emg_plot as plotmod
    from app.main_window import MainWindow
    from app.qt.settings import Settings
    from bench.gui import deferred_imports_done, pump_events

    stages = {k: _Acc() for k in ("redraw", "ring_read", "plot_update", "plot_paint", "plot_quality",
                                  "spectrogram_update", "spectrogram_paint", "camera_set_frame", "camera_paint")}
    CV, EP, CAM = viewmod.CaptureView, plotmod.EmgPlot, cammod.CameraView
    CV.redraw = stages["redraw"].wrap(CV.redraw)
    EP.update_data = stages["plot_update"].wrap(EP.update_data)
    EP.paintEvent = stages["plot_paint"].wrap(EP.paintEvent)
    EP.set_quality = stages["plot_quality"].wrap(EP.set_quality)
    plotmod.SpectrogramView.update_data = stages["spectrogram_update"].wrap(plotmod.SpectrogramView.update_data)
    CAM.set_frame = stages["camera_set_frame"].wrap(CAM.set_frame)
    CAM.paintEvent = stages["camera_paint"].wrap(CAM.paintEvent)
    from recorder.capture import ringbuffer
    ringbuffer.RingBuffer.latest = stages["ring_read"].wrap(ringbuffer.RingBuffer.latest)

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="emgrec-gui-frame-ab-"))
    settings = Settings(tmp / "settings.ini")
    settings.set_output_dir(tmp / "sessions")
    w = MainWindow(settings)
    ww, wh = (int(v) for v in args.size.split("x"))
    w.resize(ww, wh)
    w.show()
    cv = w.capture_view
    # The spectrogram's GraphicsLayoutWidget is a plain pyqtgraph class: wrap this instance's paint.
    glw = cv.spectrogram.glw
    glw.paintEvent = stages["spectrogram_paint"].wrap(glw.paintEvent)

    cv.connect_sources(args.emg, args.camera)
    assert pump_events(60, lambda: cv.capture is not None), "capture did not connect"
    pump_events(60, lambda: deferred_imports_done(w))
    pump_events(2.0)
    proc = psutil.Process()
    import threading
    gui_tid = threading.main_thread().native_id

    def gui_cpu() -> float:
        return next((t.user_time + t.system_time for t in proc.threads() if t.id == gui_tid), float("nan"))

    load0 = os.getloadavg()
    for s in stages.values():
        s.on = True
    full0 = getattr(cv.plot, "full_redraws", None)
    n0, c0, t0, pc0 = cv.fps.count, gui_cpu(), time.perf_counter(), proc.cpu_times()
    if args.profile:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    pump_events(args.seconds)
    if args.profile:
        prof.disable()
    n1, c1, t1, pc1 = cv.fps.count, gui_cpu(), time.perf_counter(), proc.cpu_times()
    for s in stages.values():
        s.on = False
    frames = n1 - n0
    span = t1 - t0
    out = {"label": args.label, "tree": str(Path(plotmod.__file__).resolve().parents[2]), "emg": args.emg,
           "size": args.size, "load_before": [round(x, 2) for x in load0],
           "load_after": [round(x, 2) for x in os.getloadavg()],
           "fps": round(frames / span, 1), "frames": frames, "span_s": round(span, 2),
           "points_per_trace": cv.plot.n_points,
           "plot_full_redraws": None if full0 is None else cv.plot.full_redraws - full0,
           "gui_thread_cpu_ms_per_frame": round((c1 - c0) / max(frames, 1) * 1e3, 3),
           "gui_thread_cpu_pct": round(100 * (c1 - c0) / span, 1),
           "process_cpu_pct": round(100 * ((pc1.user + pc1.system) - (pc0.user + pc0.system)) / span, 1),
           "stages": {k: s.per_frame(frames) for k, s in stages.items()}}
    print(json.dumps(out), flush=True)
    if args.profile:
        import pstats
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    if args.grab:
        w.grab().save(args.grab + "-window.png")
        cv.plot.grab().save(args.grab + "-plot.png")
    cv.disconnect_sources()
    pump_events(10, lambda: cv.capture is None and not cv._busy)
    w.close()
    pump_events(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
