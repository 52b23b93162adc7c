"""Live model preview: run a trained model on the capture's EMG and draw its hand over the camera.

Threads and data flow::

    acquisition thread --capture listener "emg"--> LivePredictor.push (copy into a ring) + wake event
    predict thread (one, here) --waits on the event, <= rate_hz--> LivePredictor.predict -> latest slot
    GUI QTimer (display_hz) --pulls the latest slot--> CameraView.set_overlay -> paint (latency probe)

The predict thread never touches widgets; the GUI never runs the model. Latency is measured from
``EmgChunk.arrival`` (host seconds when the bytes of the newest sample in the window were read) to
(a) the prediction being ready and (b) the overlay being painted (CameraView's paint hook), over the
last ``window_s`` seconds; :meth:`LivePreview.latency_stats` exposes it for the bench.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from recorder.clock import now
from recorder.types import Frame, Landmarks

from .workers import WorkerPool

log = logging.getLogger(__name__)

PRED_COLOR = "#ff006e"  # one colour for the model's hand; MediaPipe's is drawn per finger
CANVAS_SIZE = (640, 480)  # (W, H) of the blank canvas shown when there is no camera
# A hand of typical size (wrist to middle tip ~190 mm) drawn when no detected hand gives a scale.
_DEFAULT_WRIST = (0.5, 0.82)
_DEFAULT_HEIGHT_FRAC_PER_MM = 0.45 / 190.0


def palm_rotation(world_mm: np.ndarray) -> np.ndarray:
    """(3, 3) rotation whose columns are the palm-frame axes of one hand (21, 3) in world axes
    (same construction as recorder.dataset.hand_frame: y to the middle MCP, x across to the index
    side, z the palm normal). p_hand = (p - wrist) @ R, so p_world_rel = p_hand @ R.T."""
    p = np.asarray(world_mm, np.float64) - world_mm[0]
    y = p[9] / np.linalg.norm(p[9])
    across = p[5] - p[17]
    x = across - np.dot(across, y) * y
    x /= np.linalg.norm(x)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def place_on_image(pose_mm: np.ndarray, ref_image: np.ndarray | None, ref_world_mm: np.ndarray | None,
                   size: tuple[int, int]) -> tuple[np.ndarray, float, np.ndarray]:
    """Put a predicted wrist-relative pose (21, 3) mm (world axes) on the image.

    MediaPipe's world landmarks share the camera's axes (x right, y down), and at arm's length the
    camera is close to a weak-perspective projection: image_px - wrist_px ~= s * world_xy. So the
    prediction is anchored at the detected wrist's image point and scaled by s, the ratio of the
    detected hand's image-space size (px) to its world-space size in the image plane (mm; RMS over
    the 20 non-wrist landmarks, so no single joint dominates). Depth is dropped. With no detected
    hand (ref None) a typical-size hand is drawn low in the middle of the picture.

    ref_image: (21, 3) normalised MediaPipe image landmarks or None; ref_world_mm: (21, 3) mm or None;
    size: (W, H) px. Returns (21, 3) normalised image landmarks, the scale s (px/mm) and the wrist (2,) px.
    """
    w, h = size
    pose = np.asarray(pose_mm, np.float64)
    if ref_image is not None and ref_world_mm is not None:
        img_px = np.asarray(ref_image, np.float64)[:, :2] * (w, h)
        a = img_px[1:] - img_px[0]
        b = (np.asarray(ref_world_mm, np.float64) - ref_world_mm[0])[1:, :2]
        nb = np.sqrt((b * b).sum(axis=1).mean())
        s = np.sqrt((a * a).sum(axis=1).mean()) / nb if nb > 1e-6 else _DEFAULT_HEIGHT_FRAC_PER_MM * h
        wrist = img_px[0]
    else:
        s = _DEFAULT_HEIGHT_FRAC_PER_MM * h
        wrist = np.array(_DEFAULT_WRIST) * (w, h)
    px = wrist + s * (pose[:, :2] - pose[0, :2])
    out = np.zeros((len(pose), 3), np.float32)
    out[:, 0] = px[:, 0] / w
    out[:, 1] = px[:, 1] / h
    return out, float(s), wrist


class LatencyWindow:
    """Values (latencies in seconds, or errors in mm) with their host time, kept for ``window_s``."""

    def __init__(self, window_s: float = 5.0, maxlen: int = 4096):
        self.window_s = window_s
        self._d: deque[tuple[float, float]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def add(self, value_s: float, t: float | None = None) -> None:
        with self._lock:
            self._d.append((now() if t is None else t, value_s))

    def values(self) -> np.ndarray:
        cut = now() - self.window_s
        with self._lock:
            return np.array([v for t, v in self._d if t >= cut], np.float64)

    def rate(self) -> float:
        """Entries per second over the part of the window that has entries (0 with fewer than 2)."""
        cut = now() - self.window_s
        with self._lock:
            ts = [t for t, _ in self._d if t >= cut]
        return (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) >= 2 and ts[-1] > ts[0] else 0.0

    def stats(self, scale: float = 1e3, unit: str = "ms") -> dict:
        """{"n", "p50_ms", "p95_ms", "mean_ms", "max_ms"} over the last window_s ({"n": 0} if empty);
        values are multiplied by ``scale`` and keys end in ``unit`` (defaults: seconds -> ms)."""
        a = self.values() * scale
        if a.size == 0:
            return {"n": 0}
        return {"n": int(a.size), f"p50_{unit}": float(np.percentile(a, 50)),
                f"p95_{unit}": float(np.percentile(a, 95)), f"mean_{unit}": float(a.mean()),
                f"max_{unit}": float(a.max())}


class _NewPrediction(QtCore.QEvent):
    """Posted by the predict thread so the GUI pulls the newest prediction without waiting for a
    timer tick (several posted before the GUI gets to them coalesce: only the newest is drawn)."""

    TYPE = QtCore.QEvent.Type(QtCore.QEvent.registerEventType())

    def __init__(self):
        super().__init__(self.TYPE)


class _Latest:
    """The newest prediction, handed from the predict thread to the GUI (one slot, a lock)."""

    __slots__ = ("seq", "pred", "arrival", "t_ready")

    def __init__(self, seq=0, pred=None, arrival=float("nan"), t_ready=float("nan")):
        self.seq, self.pred, self.arrival, self.t_ready = seq, pred, arrival, t_ready


class _PredictLoop:
    """The predict thread: waits for new EMG (an event set by the capture listener), then predicts,
    at most ``rate_hz`` times a second. Predicting right when a chunk arrives (rather than on a free
    running clock) keeps the arrival -> prediction latency at the inference time."""

    def __init__(self, predictor, rate_hz: float, on_prediction):
        self.predictor = predictor
        self.period = 1.0 / rate_hz
        self.on_prediction = on_prediction
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self._arrivals: deque[tuple[float, float]] = deque(maxlen=256)  # (t of last sample, arrival)
        self._lock = threading.Lock()
        self.errors = 0
        self.last_error = ""
        self.thread = threading.Thread(target=self._run, name="live-predict", daemon=True)

    def push(self, chunk) -> None:
        """Capture listener side (acquisition thread): copy the chunk in and wake the loop."""
        self.predictor.push(chunk)
        with self._lock:
            self._arrivals.append((float(chunk.t[-1]), float(chunk.arrival)))
        self.wake.set()

    def arrival_of(self, t_last: float) -> float:
        """Arrival time of the chunk whose last sample is at ``t_last`` (the window's newest)."""
        with self._lock:
            for t, a in reversed(self._arrivals):
                if t == t_last:
                    return a
        return float("nan")

    def _run(self) -> None:
        due = -1e9
        while True:
            self.wake.wait()
            if self.stopping.is_set():
                return
            self.wake.clear()
            t = now()
            if t < due - 0.002:
                continue  # too soon: a later chunk triggers the next prediction
            # Deadlines advance by one period (not from "now"), so with chunks every 20 ms the loop
            # alternates 20/40 ms steps and averages rate_hz; far behind, it restarts from now.
            due = due + self.period if t - due < self.period else t + self.period
            try:
                pred = self.predictor.predict()
            except Exception as e:  # a model that fails on live data: say so, keep the app alive
                self.errors += 1
                self.last_error = f"{type(e).__name__}: {e}"
                log.exception("live prediction failed")
                continue
            if pred is not None:
                self.on_prediction(pred, self.arrival_of(pred.t), now())

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.thread.join(timeout=5.0)


def _load_predictor(path: str):
    from recorder.live import LivePredictor
    # One intra-op thread: inference of the small models takes ~1 ms and must not starve the GUI.
    return LivePredictor(path, threads=1)


class LivePreview(QtCore.QObject):
    """Runs the chosen model on a capture and draws the predicted hand on ``camera_view``.

    set_model(path | None) loads a model folder off the GUI thread (``model_loaded(str)`` or
    ``model_error(str)`` follows); set_capture(capture | None) follows the Capture tab's connection.
    ``label`` is a QLabel with the live status (model, error mm, latency, gesture class).
    """

    model_loaded = QtCore.Signal(str)
    model_error = QtCore.Signal(str)

    def __init__(self, camera_view, parent=None, rate_hz: float = 30.0, display_hz: float = 60.0,
                 window_s: float = 5.0):
        super().__init__(parent)
        self.camera_view = camera_view
        self.rate_hz = rate_hz
        self.capture = None
        self.predictor = None
        self.model_path: str | None = None
        self.pool = WorkerPool(self, max_threads=1)
        self.label = QtWidgets.QLabel("live model: none")
        self.label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self._loop: _PredictLoop | None = None
        self._latest = _Latest()
        self._latest_lock = threading.Lock()
        self._drawn_seq = 0
        self._pending_paint: float | None = None  # arrival time of the overlay awaiting its paint
        self._canvas = False
        self._anchor: tuple[np.ndarray, np.ndarray, float] | None = None  # (image lm, world lm, t) of the last hand
        self.lat_prediction = LatencyWindow(window_s)
        self.lat_overlay_set = LatencyWindow(window_s)
        self.lat_drawn = LatencyWindow(window_s)
        self.errors_mm = LatencyWindow(window_s)  # MPJPE values, mm
        self._pred_times = LatencyWindow(window_s)
        self.error_mm: float | None = None
        self.overlays_drawn = 0
        self.last_overlay: np.ndarray | None = None
        self.last_prediction = None
        self._target_frame = "wrist"
        self._ticks = 0
        self._load_seq = 0
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.setInterval(max(1, int(1000 / display_hz)))
        self.timer.timeout.connect(self._tick)
        camera_view.painted_hook = self._on_painted

    # -- model and capture ----------------------------------------------------------------------
    def set_model(self, path: str | Path | None) -> None:
        self._load_seq += 1
        self._detach()
        self.predictor = None
        self.model_path = None if path is None else str(path)
        self._clear_overlay()
        if path is None:
            self.label.setText("live model: none")
            return
        self.label.setText(f"loading {Path(path).name}…")
        seq = self._load_seq
        w = self.pool.start(_load_predictor, str(path))
        w.signals.returned.connect(lambda p, seq=seq: self._installed(p, seq))
        w.signals.errored.connect(lambda e, seq=seq: self._load_failed(e, seq))

    def _installed(self, predictor, seq: int) -> None:
        if seq != self._load_seq:  # another model was chosen meanwhile
            return
        self.predictor = predictor
        cfg = predictor.model.meta.get("config", {}).get("data", {})
        self._target_frame = cfg.get("target_frame", "wrist")
        self.label.setText(f"live model: {Path(self.model_path).name} ({predictor.task})")
        self._attach()
        self.model_loaded.emit(self.model_path)

    def _load_failed(self, e: BaseException, seq: int) -> None:
        if seq != self._load_seq:
            return
        msg = f"cannot load model {self.model_path}: {e}"
        self.model_path = None
        self.label.setText(f"<span style='color:#e63946'>{_esc(msg)}</span>")
        self.model_error.emit(msg)

    def set_capture(self, capture) -> None:
        self._detach()
        self.capture = capture
        self._canvas = False
        self._anchor = None
        self._clear_overlay()
        self._attach()

    def _attach(self) -> None:
        cap, pred = self.capture, self.predictor
        if cap is None or pred is None or self._loop is not None:
            return
        try:
            pred.check_source(cap.emg.sample_rate_hz, cap.emg.n_channels)
        except ValueError as e:
            self.label.setText(f"<span style='color:#e63946'>{_esc(str(e))}</span>")
            self.model_error.emit(str(e))
            return
        pred.reset()
        self._loop = _PredictLoop(pred, self.rate_hz, self._on_prediction)
        self._loop.start()
        cap.add_listener(self._listener)
        self.timer.start()

    def _detach(self) -> None:
        self.timer.stop()
        if self.capture is not None:
            self.capture.remove_listener(self._listener)
        if self._loop is not None:
            self._loop.stop()
            self._loop = None
        with self._latest_lock:
            self._latest = _Latest()
        self._drawn_seq = 0
        self._pending_paint = None

    def shutdown(self) -> None:
        """Stop the predict thread, detach from the capture and join the loader (window close)."""
        self._load_seq += 1
        self._detach()
        self.capture = None
        self.pool.shutdown(10.0)
        if getattr(self.camera_view, "painted_hook", None) == self._on_painted:
            self.camera_view.painted_hook = None

    # -- worker-thread side -------------------------------------------------------------------------
    def _listener(self, kind: str, payload) -> None:
        loop = self._loop
        if kind == "emg" and loop is not None:
            loop.push(payload)

    def _on_prediction(self, pred, arrival: float, t_ready: float) -> None:
        if np.isfinite(arrival):
            self.lat_prediction.add(t_ready - arrival, t_ready)
        self._pred_times.add(0.0, t_ready)
        with self._latest_lock:
            self._latest = _Latest(self._latest.seq + 1, pred, arrival, t_ready)
        QtCore.QCoreApplication.postEvent(self, _NewPrediction())

    def event(self, ev) -> bool:
        if isinstance(ev, _NewPrediction):
            self._pull()
            return True
        return super().event(ev)

    # -- GUI side -----------------------------------------------------------------------------------
    def latest(self):
        """The newest LivePrediction (or None)."""
        with self._latest_lock:
            return self._latest.pred

    def _pull(self) -> None:
        """GUI thread: draw the newest prediction if it has not been drawn yet."""
        if self._loop is None:
            return
        with self._latest_lock:
            latest = self._latest
        if latest.pred is not None and latest.seq != self._drawn_seq:
            self._drawn_seq = latest.seq
            self._show(latest)

    def _tick(self) -> None:
        self._pull()  # also on the display timer, in case a posted wake-up was dropped
        self._ticks += 1
        if self._ticks % 15 == 0:
            self._update_label()

    def _reference(self) -> tuple[Landmarks | None, tuple[int, int], bool]:
        """The detected hand to compare with and anchor on (None if none recent), the picture size
        (W, H) and whether there is a camera."""
        cap = self.capture
        if cap is None or cap.camera is None:
            return None, CANVAS_SIZE, False
        frame = cap.latest_frame()
        size = (frame.image.shape[1], frame.image.shape[0]) if frame is not None else CANVAS_SIZE
        lm = cap.latest_landmarks()
        if lm is None or not lm.has_hand or (frame is not None and lm.frame_index < frame.index - 3):
            lm = None
        return lm, size, True

    def _show(self, latest: _Latest) -> None:
        pred = latest.pred
        self.last_prediction = pred
        if pred.pose is None:  # gesture model: nothing to draw, the label shows the class
            self._update_label()
            return
        lm, size, has_camera = self._reference()
        if not has_camera and not self._canvas:
            # No camera: a blank canvas so the predicted hand has somewhere to be drawn.
            blank = np.full((CANVAS_SIZE[1], CANVAS_SIZE[0], 3), 18, np.uint8)
            self.camera_view.set_frame(Frame(blank, now(), -1), None, "no camera · model prediction only")
            self._canvas = True
        pose = pred.pose
        if lm is not None:
            world = lm.world_mm.astype(np.float64)
            if self._target_frame == "hand":
                R = palm_rotation(world)
                truth = (world - world[0]) @ R
                pose_world = pose @ R.T
            else:
                truth = world - world[0]
                pose_world = pose
            self.error_mm = float(np.linalg.norm(pose[1:] - truth[1:], axis=-1).mean())
            self.errors_mm.add(self.error_mm)
            self._anchor = (lm.image, lm.world_mm, now())
        else:
            self.error_mm = None
            # Palm-frame models with no hand to orient by: palm up the picture (image y points down).
            pose_world = pose * (1, -1, 1) if self._target_frame == "hand" else pose
        ref = self._anchor if (self._anchor is not None and now() - self._anchor[2] < 1.0) else None
        pts, _, _ = place_on_image(pose_world, None if ref is None else ref[0], None if ref is None else ref[1], size)
        self.last_overlay = pts
        if np.isfinite(latest.arrival):
            self.lat_overlay_set.add(now() - latest.arrival)
            self._pending_paint = latest.arrival
        # Painted at once: waiting for the next update pass adds up to a whole window redraw.
        name = Path(self.model_path).name if self.model_path else "model"
        legend = [(f"model: {name}", PRED_COLOR)]
        if lm is not None:
            legend.insert(0, ("MediaPipe (camera)", None))
        self.camera_view.set_overlay([(pts, PRED_COLOR)], immediate=True, legend=legend)

    def _on_painted(self) -> None:
        """CameraView paint hook (GUI thread): the overlay of the newest prediction is on screen."""
        arr = self._pending_paint
        if arr is not None:
            self._pending_paint = None
            self.lat_drawn.add(now() - arr)
            self.overlays_drawn += 1

    def _clear_overlay(self) -> None:
        self.camera_view.set_overlay([])
        self.last_overlay = None

    def latency_stats(self) -> dict:
        """Live numbers over the last window_s seconds (for the bench and the status label):

        prediction: EMG chunk arrival -> prediction ready (ms); overlay: arrival -> overlay painted
        (ms); overlay_set: arrival -> set_overlay called; inference: model time alone (ms);
        rate_hz: predictions per second; error_mm: MPJPE vs the detected hand (n, p50_mm, p95_mm,
        mean_mm, max_mm, last_mm); drawn: overlays painted so far.
        """
        err = dict(self.errors_mm.stats(scale=1.0, unit="mm"), last_mm=self.error_mm)
        return {"prediction": self.lat_prediction.stats(), "overlay": self.lat_drawn.stats(),
                "overlay_set": self.lat_overlay_set.stats(),
                "inference": self.predictor.latency_stats() if self.predictor is not None else {"n": 0},
                "rate_hz": self._pred_times.rate(), "error_mm": err, "drawn": self.overlays_drawn,
                "errors": self._loop.errors if self._loop is not None else 0}

    def status_text(self) -> str:
        if self.predictor is None:
            return self.label.text()
        name = Path(self.model_path).name if self.model_path else "?"
        st = self.latency_stats()
        parts = [f"<b>{_esc(name)}</b>"]
        pred = self.last_prediction
        if pred is not None and pred.label is not None:
            parts.append(f"<b style='color:{PRED_COLOR}'>{_esc(pred.label)}</b> {float(pred.probs.max()):.2f}")
        elif self.error_mm is not None:
            e = st["error_mm"]
            parts.append(f"<span style='color:{PRED_COLOR}'>error {self.error_mm:.0f} mm</span>"
                         f" (mean {e['mean_mm']:.0f})")
        elif pred is not None:
            parts.append("no hand to compare")
        o, p = st["overlay"], st["prediction"]
        # Short enough for the toolbar at 1280 px; the percentiles are in the tooltip.
        if o.get("n"):
            parts.append(f"overlay {o['p50_ms']:.0f} ms")
        elif p.get("n"):
            parts.append(f"prediction {p['p50_ms']:.0f} ms")
        parts.append(f"{st['rate_hz']:.0f} Hz")
        if self._loop is not None and self._loop.errors:
            parts.append(f"<span style='color:#e63946'>{_esc(self._loop.last_error)}</span>")
        return " · ".join(parts)

    def tooltip_text(self) -> str:
        """The full live numbers (the label shows a short form)."""
        st = self.latency_stats()
        rows = [f"model folder: {self.model_path}"]
        for key, what in (("prediction", "EMG chunk → prediction ready"),
                          ("overlay", "EMG chunk → overlay painted"), ("inference", "model alone")):
            d = st[key]
            if d.get("n"):
                rows.append(f"{what}: p50 {d['p50_ms']:.0f} ms, p95 {d['p95_ms']:.0f} ms")
        e = st["error_mm"]
        if e.get("n"):
            rows.append(f"error vs MediaPipe: mean {e['mean_mm']:.0f} mm, p95 {e['p95_mm']:.0f} mm")
        return "\n".join(rows)

    def _update_label(self) -> None:
        if self.predictor is not None and self.capture is not None:
            self.label.setText(self.status_text())
            self.label.setToolTip(self.tooltip_text())


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
