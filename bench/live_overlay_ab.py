"""Run only the gui group's live-overlay part (``bench.gui._live_overlay``) once, with a stage
breakdown, for A/B runs of the live preview (old tree vs new tree on PYTHONPATH)::

    PYTHONPATH=TREE QT_QPA_PLATFORM=offscreen python bench/live_overlay_ab.py [--full] [--label NAME]

Prints one JSON line: the bench rows, the load average, per-stage latencies (ms) of the
predictions made in the last 5 s (EMG arrival -> predict start -> predict end -> GUI handles it ->
overlay painted), the CameraView paint time, and thread CPU time per prediction / per overlay.
The stages are read by wrapping LivePreview._on_prediction / _show / _on_painted and
CameraView.paintEvent here, so the same driver measures trees that lack the probes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def _pct(v) -> dict:
    a = np.asarray(v, np.float64) * 1e3
    if a.size == 0:
        return {"n": 0}
    return {"n": int(a.size), "p50": round(float(np.percentile(a, 50)), 2),
            "p95": round(float(np.percentile(a, 95)), 2), "mean": round(float(a.mean()), 2)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="30 s pump instead of 10 s (ctx.pick)")
    ap.add_argument("--label", default="")
    ap.add_argument("--profile", action="store_true", help="cProfile the GUI thread over the measured 5 s (stderr)")
    ap.add_argument("--switch-ms", type=float, help="sys.setswitchinterval (ms) for this run (default: as is)")
    args = ap.parse_args()
    if args.switch_ms:
        sys.setswitchinterval(args.switch_ms / 1e3)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import psutil
    from PySide6 import QtWidgets

    import app.widgets.camera_view as cvmod
    import app.train.live_preview as lpmod
    from app.main_window import MainWindow
    from app.qt.settings import Settings
    from bench import gui
    from bench.core import Context
    from recorder.core.clock import now

    stamps: dict[float, dict] = {}  # arrival -> stage times (host s)
    paints: list[tuple[float, float]] = []  # (t, duration s)
    show_cpu: list[tuple[float, float]] = []  # (t, GUI thread CPU s of one _show: place + paint)
    lock = threading.Lock()
    LP, CV = lpmod.LivePreview, cvmod.CameraView
    orig_pred, orig_show, orig_painted, orig_paint = LP._on_prediction, LP._show, LP._on_painted, CV.paintEvent

    def on_prediction(self, pred, arrival, t_ready):
        with lock:
            stamps[arrival] = {"arrival": arrival, "start": t_ready - pred.latency_s, "ready": t_ready}
        return orig_pred(self, pred, arrival, t_ready)

    def show(self, latest):
        with lock:
            d = stamps.get(latest.arrival)
        if d is not None:
            d["gui"] = now()
        self._ab_current = d
        c0 = time.thread_time()
        try:
            return orig_show(self, latest)
        finally:
            show_cpu.append((now(), time.thread_time() - c0))

    def on_painted(self):
        d = getattr(self, "_ab_current", None)
        if d is not None and self._pending_paint is not None and "painted" not in d:
            d["painted"] = now()
        return orig_painted(self)

    def paint(self, ev):
        t0 = time.perf_counter()
        orig_paint(self, ev)
        paints.append((now(), time.perf_counter() - t0))

    LP._on_prediction, LP._show, LP._on_painted, CV.paintEvent = on_prediction, show, on_painted, paint

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    ctx = Context(quick=not args.full, workdir=Path(tempfile.mkdtemp(prefix="emgrec-live-ab-")), soak_s=0.0)
    tmp = ctx.workdir
    settings = Settings(tmp / "settings.ini")
    settings.set_output_dir(tmp / "sessions")
    w = MainWindow(settings)
    w.resize(1500, 900)
    w.show()
    proc = psutil.Process()
    cpu: dict = {}

    def threads_cpu() -> dict[int, float]:
        return {t.id: t.user_time + t.system_time for t in proc.threads()}

    pump = gui.pump_events

    def measured_pump(seconds: float, until=None) -> bool:
        """The live-overlay pump: its last 5 s (the app's latency window) are the measured span."""
        if until is not None or seconds < 6:
            return pump(seconds, until)
        pump(seconds - 5.0)
        live = w.live
        run = live._loop
        cpu["t0"], cpu["c0"], cpu["p0"] = now(), threads_cpu(), proc.cpu_times()
        cpu["n0"], cpu["d0"] = run.predictions, live.overlays_drawn
        if args.profile:
            import cProfile
            import pstats
            prof = cProfile.Profile()
            prof.enable()
        pump(5.0)
        if args.profile:
            prof.disable()
            prof.dump_stats(str(tmp / "gui.prof"))
            print(f"profile: {tmp / 'gui.prof'}", file=sys.stderr)
            pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        cpu["t1"], cpu["c1"], cpu["p1"] = now(), threads_cpu(), proc.cpu_times()
        cpu["n1"], cpu["d1"] = run.predictions, live.overlays_drawn
        cpu["ids"] = {"runner": run._thread.native_id, "gui": threading.main_thread().native_id}
        return True

    cv = w.capture_view
    cv.connect_sources("synthetic", "synthetic", "none")  # the ideal subject, as before the realistic default
    assert pump(60, lambda: cv.capture is not None), "capture did not connect"
    pump(3)
    pump(60, lambda: gui.deferred_imports_done(w))
    load0 = os.getloadavg()
    rows = gui._live_overlay(ctx, w, tmp, measured_pump)
    load1 = os.getloadavg()

    t0, t1 = cpu["t0"], cpu["t1"]
    sel = [d for d in list(stamps.values()) if t0 <= d["ready"] <= t1]
    st = {"wait (arrival->predict start)": [d["start"] - d["arrival"] for d in sel],
          "inference": [d["ready"] - d["start"] for d in sel],
          "ready->GUI handles it": [d["gui"] - d["ready"] for d in sel if "gui" in d],
          "GUI handles->painted": [d["painted"] - d["gui"] for d in sel if "painted" in d],
          "arrival->painted": [d["painted"] - d["arrival"] for d in sel if "painted" in d]}
    n_pred, n_drawn = cpu["n1"] - cpu["n0"], cpu["d1"] - cpu["d0"]
    per = {}
    for name, tid in cpu["ids"].items():
        used = cpu["c1"].get(tid, 0.0) - cpu["c0"].get(tid, 0.0)
        per[name] = round(used, 3)
    p0, p1 = cpu["p0"], cpu["p1"]
    span = t1 - t0
    out = {"label": args.label, "switch_ms": sys.getswitchinterval() * 1e3, "tree": str(Path(gui.__file__).resolve().parents[1]),
           "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in load1],
           "rows": {r.name: (None if r.value is None else round(r.value, 2)) for r in rows},
           "stages_ms": {k: _pct(v) for k, v in st.items()},
           "paint_ms": _pct([d for t, d in paints if t0 <= t <= t1]),
           "show_cpu_ms": _pct([c for t, c in show_cpu if t0 <= t <= t1]),
           "paints_per_s": round(sum(1 for t, _ in paints if t0 <= t <= t1) / span, 1),
           "predictions": n_pred, "overlays": n_drawn, "span_s": round(span, 2),
           "thread_cpu_s": per,
           "cpu_ms_per_prediction_runner": round(per["runner"] / max(n_pred, 1) * 1e3, 2),
           "cpu_ms_per_overlay_gui_thread_total": round(per["gui"] / max(n_drawn, 1) * 1e3, 2),
           "process_cpu_pct": round(100 * ((p1.user + p1.system) - (p0.user + p0.system)) / span, 1)}
    print(json.dumps(out), flush=True)
    w.close()
    pump(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
