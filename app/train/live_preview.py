"""Live model preview: run a trained model on the capture's EMG and draw its hand over the camera.

Threads and data flow::

    acquisition thread --capture listener on_emg--> LiveRunner.push (copy into the predictor's ring) + wake
    runner thread (recorder.live.runner) --on new EMG, <= rate_hz--> LivePredictor.predict -> latest slot
        + a posted event to the GUI thread
    GUI thread (the event, or a QTimer at display_hz) --pulls the latest slot--> CameraView.set_overlay
        -> paint (latency probe)

The runner thread never touches widgets (it only fills the slot and posts an event); the GUI never
runs the model. The loop itself (rate cap, surviving errors, stop) is the engine's LiveRunner, the
same one ``emgrec lsl publish --model`` runs. Latency is measured from
``EmgChunk.arrival`` (host seconds when the bytes of the newest sample in the window were read) to
(a) the prediction being ready and (b) the overlay being painted (CameraView's paint hook), over the
last ``window_s`` seconds; :meth:`LivePreview.latency_stats` exposes it for the bench.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from recorder.core.clock import now
from recorder.live.runner import LatencyWindow, LiveRunner
from recorder.core.types import CaptureListenerBase, EmgChunk, Frame, Landmarks

from app.qt.workers import WorkerPool
from app.widgets.style import MESSAGE_COLORS

log = logging.getLogger(__name__)

PRED_COLOR = "#ff006e"  # one colour for the model's hand; MediaPipe's is drawn per finger
CANVAS_SIZE = (640, 480)  # (W, H) of the blank canvas shown when there is no camera
# A hand of typical size (wrist to middle tip ~190 mm) drawn when no detected hand gives a scale.
_DEFAULT_WRIST = (0.5, 0.82)
_DEFAULT_HEIGHT_FRAC_PER_MM = 0.45 / 190.0


def palm_rotation(world_mm: np.ndarray) -> np.ndarray:
    """(3, 3) rotation whose columns are the palm-frame axes of one hand (21, 3) in world axes
    (same construction as recorder.dataset.windows.hand_frame: y to the middle MCP, x across to the index
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


def _load_predictor(path: str):
    from recorder.live.predictor import LivePredictor
    # One intra-op thread: inference of the small models takes ~1 ms and must not starve the GUI.
    return LivePredictor(path, threads=1)


class _EmgFeed(CaptureListenerBase):
    """The preview's capture listener: hands each EMG chunk to ``push`` (on the reader thread)."""

    def __init__(self, push):
        self.push = push

    def on_emg(self, chunk: EmgChunk) -> None:
        self.push(chunk)


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
        self._listener = _EmgFeed(self._on_emg)
        self.model_path: str | None = None
        self.pool = WorkerPool(self, max_threads=1)
        self.label = QtWidgets.QLabel("live model: none")
        self.label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        # Shown while the loaded model is flagged no-skill (model.json "quality", recorder.model.guard).
        self.banner = QtWidgets.QLabel(wordWrap=True, objectName="liveNoSkillBanner")
        self.banner.setStyleSheet("QLabel {{ background: {}; color: {}; border-radius: 6px; padding: 6px;"
                                  " font-weight: bold; }}".format(*MESSAGE_COLORS["warn"]))
        self.banner.hide()
        self.no_skill = False
        self._loop: LiveRunner | None = None
        self._latest = _Latest()
        self._latest_lock = threading.Lock()
        self._drawn_seq = 0
        self._pending_paint: float | None = None  # arrival time of the overlay awaiting its paint
        self._canvas = False
        self._anchor: tuple[np.ndarray, np.ndarray, float] | None = None  # (image lm, world lm, t) of the last hand
        self.window_s = window_s
        self.lat_overlay_set = LatencyWindow(window_s)
        self.lat_drawn = LatencyWindow(window_s)
        self.errors_mm = LatencyWindow(window_s)  # MPJPE values, mm
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
        self._set_no_skill(None)
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
        self._target_frame = predictor.model.meta.data_config.get("target_frame", "wrist")
        self._set_no_skill(predictor.model.meta.quality or {}, predictor.task)
        self.label.setText(f"live model: {Path(self.model_path).name} ({predictor.task})")
        self._attach()
        self.model_loaded.emit(self.model_path)

    def _set_no_skill(self, quality: dict | None, task: str = "pose") -> None:
        """Show (or hide) the plain-words banner for a model whose training said it has no skill."""
        self.no_skill = bool(quality and quality.get("no_skill"))
        if not self.no_skill:
            self.banner.hide()
            return
        self.banner.setText(no_skill_text(quality, task))
        self.banner.show()

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
        self._loop = LiveRunner(pred, self.rate_hz, on_prediction=self._on_prediction, window_s=self.window_s).start()
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
    def _on_emg(self, chunk) -> None:
        # The capture's reader thread (via _EmgFeed): copy into the predictor's window, nothing else.
        loop = self._loop
        if loop is not None:
            loop.push(chunk)

    def _on_prediction(self, pred, arrival: float, t_ready: float) -> None:
        # Runner thread: fill the slot and wake the GUI thread; no widget is touched here.
        with self._latest_lock:
            self._latest = _Latest(self._latest.seq + 1, pred, arrival, t_ready)
        # High priority: ahead of the queued signals and paint requests already waiting on the GUI thread.
        QtCore.QCoreApplication.postEvent(self, _NewPrediction(), QtCore.Qt.EventPriority.HighEventPriority.value)

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
        mean_mm, max_mm, last_mm); drawn: overlays painted so far; errors: failed predictions (the
        runner's; prediction, rate_hz and errors cover the running loop only).
        """
        err = dict(self.errors_mm.stats(scale=1.0, unit="mm"), last_mm=self.error_mm)
        run = self._loop.stats() if self._loop is not None else {"prediction": {"n": 0}, "rate_hz": 0.0, "errors": 0}
        return {"prediction": run["prediction"], "overlay": self.lat_drawn.stats(),
                "overlay_set": self.lat_overlay_set.stats(),
                "inference": self.predictor.latency_stats() if self.predictor is not None else {"n": 0},
                "rate_hz": run["rate_hz"], "error_mm": err, "drawn": self.overlays_drawn,
                "errors": run["errors"]}

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


def no_skill_text(quality: dict, task: str = "pose") -> str:
    """The live preview's banner for a no-skill model (quality: model.json "quality", from recorder.model.guard)."""
    what = "the mean pose (the same average hand every time)" if task == "pose" else "guessing"
    why = "; ".join(quality.get("reasons") or []) or "its validation was no better than " + what
    return (f"This model has not learnt to read the EMG: {why}. What it shows is no better than {what}, so do not "
            f"trust it. To get a useful model, record more (a few minutes with varied movements, the band firm on "
            f"the skin) and train again, or calibrate an earlier model on this placement (Calibrate… in the "
            f"toolbar).")


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
