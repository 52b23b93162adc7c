"""Hand landmarks from camera frames: MediaPipe Hands, or the synthetic camera's exact truth.

:class:`HandDetector` wraps ``mediapipe.solutions.hands.Hands`` for one image at a time;
:class:`LandmarkWorker` runs one on its own thread behind a small bounded queue (live use: never
blocks the camera, drops the oldest frame when it falls behind, and counts the drops);
:func:`run_on_frames` re-runs MediaPipe over stored frames (review view, re-labelling).

MediaPipe is imported only when a detector is built, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Callable, Iterable

import numpy as np

from recorder.core.clock import now
from recorder.core.errors import EmgrecError, UsageError
from recorder.core.types import N_LANDMARKS, Frame, Landmarks, Progress, ProgressCallback
from recorder.core.worker import WorkerThreadOwner

log = logging.getLogger(__name__)

LandmarkSink = Callable[[Frame, Landmarks], None]
MODES = ("auto", "mediapipe", "truth")


class LandmarkError(EmgrecError, RuntimeError):
    """The landmark detector cannot be built or failed on a frame."""


class HandDetector:
    """MediaPipe Hands on BGR images.

    static_image_mode: True treats every image independently (photos); False tracks across
        consecutive video frames (faster, steadier).
    max_num_hands: hands MediaPipe looks for; when it finds several, the highest-scoring one is kept.
    Other options are MediaPipe's. Not thread-safe: use one detector per thread.
    """

    def __init__(self, static_image_mode: bool = False, model_complexity: int = 1,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                 max_num_hands: int = 1):
        try:
            from mediapipe.python.solutions import hands as mp_hands
        except ImportError as e:  # mediapipe wheels exist only for some Python/platform pairs
            raise LandmarkError(f"MediaPipe is not available: {e}") from e
        import cv2

        self._cv2 = cv2
        self.options = {"static_image_mode": static_image_mode, "model_complexity": model_complexity,
                        "min_detection_confidence": min_detection_confidence,
                        "min_tracking_confidence": min_tracking_confidence, "max_num_hands": max_num_hands}
        self._hands = mp_hands.Hands(**self.options)

    def process(self, bgr: np.ndarray, t: float = 0.0, frame_index: int = 0) -> Landmarks:
        """Landmarks of the best hand in a (H, W, 3) uint8 BGR image; NaN landmarks when none.

        world_mm is MediaPipe's world landmarks x 1000 (mm; MediaPipe's origin is near the hand's
        centre, not the wrist). latency_s is this call's processing time (the worker replaces it
        with capture-to-ready time).
        """
        if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
            shape = None if bgr is None else (bgr.shape, bgr.dtype)
            raise ValueError(f"expected an (H, W, 3) uint8 BGR image, got {shape}")
        t0 = now()
        rgb = self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB)
        res = self._hands.process(rgb)
        dt = now() - t0
        if not res.multi_hand_landmarks:
            return Landmarks.empty(t, frame_index, dt)
        scores = [h.classification[0].score for h in res.multi_handedness]
        k = int(np.argmax(scores))
        image = np.array([(p.x, p.y, p.z) for p in res.multi_hand_landmarks[k].landmark], np.float32)
        world = np.array([(p.x, p.y, p.z) for p in res.multi_hand_world_landmarks[k].landmark], np.float32)
        return Landmarks(image=image, world_mm=world * 1000.0, score=float(scores[k]),
                         handedness=res.multi_handedness[k].classification[0].label,
                         t=t, frame_index=frame_index, latency_s=dt)

    def close(self) -> None:
        hands, self._hands = self._hands, None
        if hands is not None:
            hands.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def truth_landmarks(frame: Frame) -> Landmarks:
    """Landmarks from a synthetic frame: its emulated detector's answer (``frame.detected``) when it
    has one, else its exact truth (score 1, a right hand); empty if it has neither."""
    d = frame.detected
    if d is not None:
        return Landmarks(image=d.image, world_mm=d.world_mm, score=d.score, handedness=d.handedness,
                         t=frame.t, frame_index=frame.index)
    if frame.truth_world_mm is None or frame.truth_image is None:
        return Landmarks.empty(frame.t, frame.index)
    return Landmarks(image=np.asarray(frame.truth_image, np.float32).reshape(N_LANDMARKS, 3),
                     world_mm=np.asarray(frame.truth_world_mm, np.float32).reshape(N_LANDMARKS, 3),
                     score=1.0, handedness="Right", t=frame.t, frame_index=frame.index)


class LandmarkWorker(WorkerThreadOwner):
    """Finds landmarks for submitted frames on its own thread and passes (frame, landmarks) to a sink.

    mode: "mediapipe" always runs MediaPipe; "truth" uses the frame's own landmarks (synthetic
        camera: exact, or its emulated detector's answer with a realistic subject, see
        :func:`truth_landmarks`; frames without truth get empty landmarks); "auto" uses truth when
        the frame has it and MediaPipe otherwise.
    queue_size: frames waiting at most; when full, :meth:`submit` drops the oldest waiting frame
        (the newest is the most useful live) and counts it.
    detector_options: passed to :class:`HandDetector` (built lazily on the worker thread).
    """

    def __init__(self, mode: str = "auto", queue_size: int = 4, **detector_options):
        if mode not in MODES:
            raise UsageError(f"landmark mode must be one of {MODES}, got {mode!r}")
        if queue_size < 1:
            raise UsageError(f"queue_size must be >= 1, got {queue_size}")
        self.mode = mode
        self.queue_size = int(queue_size)
        self.detector_options = detector_options
        super().__init__()  # _thread (stop requests go through _stopping, under _cond)
        self._queue: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._drain = True
        self._sink: LandmarkSink | None = None
        self._detector: HandDetector | None = None
        self._processed = self._dropped = self._with_hand = 0
        self._latencies: deque[float] = deque(maxlen=300)
        self._done_times: deque[float] = deque(maxlen=64)
        self._last_error = ""

    def start(self, sink: LandmarkSink, frames_have_truth: bool | None = None) -> None:
        """Start the worker thread; ``sink(frame, landmarks)`` is called on it for every processed frame.

        The model is loaded here, on the caller's thread (about a second), so the first frames are
        not dropped while it loads and a missing MediaPipe raises :class:`LandmarkError` right
        away: in "mediapipe" mode, and in "auto" mode when ``frames_have_truth`` is False (a real
        camera: loading at the first frame left its first 0.25-0.5 s without landmarks). "auto"
        with ``frames_have_truth`` None (not known) loads it at the first frame without truth.
        """
        self._refuse_second_start("landmark worker")
        if (self.mode == "mediapipe" or (self.mode == "auto" and frames_have_truth is False)) \
                and self._detector is None:
            self._detector = HandDetector(**self.detector_options)
        self._sink = sink
        self._stopping = False
        self._start_thread(self._main, "landmarks")

    def submit(self, frame: Frame) -> bool:
        """Queue a frame without blocking; False if an older frame had to be dropped for it."""
        with self._cond:
            dropped = len(self._queue) >= self.queue_size
            if dropped:
                self._queue.popleft()
                self._dropped += 1
            self._queue.append(frame)
            self._cond.notify()
        return not dropped

    def stop(self, drain: bool = True, timeout: float = 10.0) -> None:
        """Stop the thread; with drain, frames already queued are processed first. Safe to call twice."""
        with self._cond:
            self._stopping = True
            self._drain = drain
            self._cond.notify()
        self._join_thread(timeout)

    def stats(self) -> dict:
        """processed, dropped, with_hand, queue, fps (processed per second, recent),
        latency_p50_s / latency_p95_s (capture to landmarks ready, recent), mode, last_error."""
        with self._cond:
            lat = np.asarray(self._latencies)
            done = list(self._done_times)
            out = {"processed": self._processed, "dropped": self._dropped, "with_hand": self._with_hand,
                   "queue": len(self._queue), "mode": self.mode, "last_error": self._last_error}
        out["fps"] = (len(done) - 1) / (done[-1] - done[0]) if len(done) >= 2 and done[-1] > done[0] else 0.0
        out["latency_p50_s"] = float(np.percentile(lat, 50)) if lat.size else float("nan")
        out["latency_p95_s"] = float(np.percentile(lat, 95)) if lat.size else float("nan")
        return out

    def _landmarks(self, frame: Frame) -> Landmarks:
        if self.mode == "truth" or (self.mode == "auto" and frame.truth_world_mm is not None):
            return truth_landmarks(frame)
        if self._detector is None:
            self._detector = HandDetector(**self.detector_options)
        return self._detector.process(frame.image, frame.t, frame.index)

    def _main(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._stopping:
                        self._cond.wait()
                    if self._stopping and (not self._drain or not self._queue):
                        return
                    frame = self._queue.popleft()
                try:
                    lm = self._landmarks(frame)
                except LandmarkError as e:  # no MediaPipe: nothing more this worker can do
                    log.error("landmarks: %s", e)
                    with self._cond:
                        self._last_error = str(e)
                    return
                except (ValueError, RuntimeError) as e:  # one bad frame: report it, keep going
                    log.warning("landmarks failed on frame %d: %s", frame.index, e)
                    with self._cond:
                        self._last_error = f"frame {frame.index}: {e}"
                    lm = Landmarks.empty(frame.t, frame.index)
                    lm.score = float("nan")  # not looked at, which is not "no hand" (score 0)
                done = now()
                lm.latency_s = done - frame.t
                with self._cond:
                    self._processed += 1
                    self._with_hand += lm.has_hand
                    self._latencies.append(lm.latency_s)
                    self._done_times.append(done)
                if self._sink is not None:
                    try:
                        self._sink(frame, lm)
                    except Exception as e:  # a failing consumer must be heard, but not stop the worker
                        log.exception("landmark sink failed")
                        with self._cond:
                            self._last_error = f"sink: {type(e).__name__}: {e}"
        finally:
            if self._detector is not None:
                self._detector.close()
                self._detector = None


def run_on_frames(frames: Iterable, progress: ProgressCallback | None = None,
                  cancel=None, **detector_options) -> list[Landmarks]:
    """Run MediaPipe over stored frames in order and return one Landmarks per frame.

    frames: :class:`Frame` objects, ``(t, bgr)`` pairs, or bare (H, W, 3) BGR arrays (t = 0,
        frame_index = position).
    progress: called with ``Progress(frames done, total frames)`` after each frame (total None for an
        unsized iterable).
    cancel: a ``threading.Event`` or a callable returning True to stop early; the landmarks found so
        far are returned.
    detector_options: for :class:`HandDetector`; default tracking mode (consecutive video frames).
    """
    total = len(frames) if hasattr(frames, "__len__") else None
    cancelled = (cancel.is_set if hasattr(cancel, "is_set") else cancel) or (lambda: False)
    out: list[Landmarks] = []
    with HandDetector(**detector_options) as det:
        for i, item in enumerate(frames):
            if cancelled():
                break
            if isinstance(item, Frame):
                image, t, index = item.image, item.t, item.index
            elif isinstance(item, tuple):
                (t, image), index = item, i
            else:
                image, t, index = item, 0.0, i
            out.append(det.process(image, float(t), int(index)))
            if progress is not None:
                progress(Progress(i + 1, total))
    return out
