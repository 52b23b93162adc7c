"""Camera sources: webcam, video file, image folder and the synthetic subject's rendered hand.

Every source captures on its own thread and hands :class:`~recorder.core.types.Frame` objects (BGR uint8,
host-clock time stamped at capture) to a sink callback; the sink runs on the capture thread, so it
must be cheap (a queue append). States follow the EMG devices (:class:`~recorder.core.types.DeviceState`).
"""

from __future__ import annotations

import abc
import logging
import threading
from collections import deque
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from recorder.core.clock import now
from recorder.core.errors import EmgrecError, UsageError
from recorder.core.types import HAND_CONNECTIONS, DeviceState, Frame, Landmarks
from recorder.core.worker import WorkerThreadOwner, run_reporting_errors

log = logging.getLogger(__name__)

FrameSink = Callable[[Frame], None]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


class CameraError(EmgrecError, RuntimeError):
    """A camera, video file or image folder cannot be opened or read; the message names it."""


class CameraSource(WorkerThreadOwner, abc.ABC):
    """Base class: one capture thread, explicit state, cooperative stop.

    Subclasses set ``kind``, ``fps`` (frames per second) and ``size`` ((width, height) px), and
    implement :meth:`_run`, which captures until ``self._stop`` is set and passes each image to
    :meth:`_emit`. :meth:`_open` runs on the caller's thread inside :meth:`start`, so a missing
    device raises :class:`CameraError` right there; :meth:`_close` runs on the capture thread after
    :meth:`_run`, even after an error.
    """

    kind = "base"

    def __init__(self, fps: float, size: tuple[int, int]):
        if fps <= 0:
            raise UsageError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        self.size = (int(size[0]), int(size[1]))
        super().__init__()  # _stop, _thread
        self._sink: FrameSink | None = None
        self._lock = threading.Lock()
        self._state = DeviceState.IDLE
        self._frames = 0
        self._last_error = ""
        self._times: deque[float] = deque(maxlen=64)

    # -- public API ---------------------------------------------------------------------------
    def start(self, sink: FrameSink) -> None:
        """Open the camera (raises CameraError) and capture on a new thread into ``sink``."""
        self._refuse_second_start(f"{self.kind} camera")
        self._set_state(DeviceState.CONNECTING)
        try:
            self._open()
        except CameraError as e:
            self._set_state(DeviceState.ERROR, str(e))
            raise
        self._sink = sink
        self._start_thread(self._thread_main, f"camera-{self.kind}")

    def stop(self, timeout: float = 3.0) -> None:
        """Ask the capture thread to finish and wait for it. Safe to call twice."""
        self._stop_thread(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the capture thread to end by itself (end of a video); True if it has."""
        t = self._thread
        if t is None:
            return True
        t.join(timeout)
        return not t.is_alive()

    def status(self) -> dict:
        """dict(state, frames, measured_fps, last_error)."""
        with self._lock:
            ts = list(self._times)
            fps = (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) >= 2 and ts[-1] > ts[0] else 0.0
            return {"state": self._state.value, "frames": self._frames, "measured_fps": fps,
                    "last_error": self._last_error}

    def describe(self) -> dict:
        """JSON-able description saved in session settings."""
        return {"kind": self.kind, "fps": self.fps, "size": list(self.size)}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- for subclasses -----------------------------------------------------------------------
    def _open(self) -> None:
        """Acquire the device on the caller's thread; raise CameraError if it is not there."""

    @abc.abstractmethod
    def _run(self) -> None:
        """Capture until ``self._stop`` is set (or the source ends); call :meth:`_emit` per frame."""

    def _close(self) -> None:
        """Release the device (runs on the capture thread after :meth:`_run`)."""

    def _thread_main(self) -> None:
        self._set_state(DeviceState.STREAMING)
        try:  # a bug (also in the sink) is reported as an error state too
            run_reporting_errors(self._run, CameraError, self._set_state, log, f"{self.kind} camera")
        finally:
            self._close()

    def _set_state(self, state: DeviceState, error: str = "") -> None:
        with self._lock:
            self._state = state
            if error:
                self._last_error = error

    def _emit(self, image: np.ndarray, t: float, truth_world_mm=None, truth_image=None, detected=None) -> Frame:
        with self._lock:
            index = self._frames
            self._frames += 1
            self._times.append(now())
        frame = Frame(image=image, t=t, index=index, truth_world_mm=truth_world_mm, truth_image=truth_image,
                      detected=detected)
        if self._sink is not None:
            self._sink(frame)
        return frame

    def _pace(self, deadline: float) -> bool:
        """Wait until host time ``deadline`` or a stop request; True if stop was requested."""
        return self._stop.wait(max(0.0, deadline - now()))


class WebcamSource(CameraSource):
    """A webcam through ``cv2.VideoCapture(index)``. ``fps`` and ``size`` are requests; after
    :meth:`start` they hold what the camera granted. Frame time = host time when grab() returned."""

    kind = "webcam"

    def __init__(self, index: int = 0, fps: float = 30.0, size: tuple[int, int] = (640, 480)):
        super().__init__(fps, size)
        self.index = int(index)
        self._cap: cv2.VideoCapture | None = None

    def describe(self) -> dict:
        return {**super().describe(), "index": self.index}

    def _open(self) -> None:
        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"no webcam at index {self.index} (cv2.VideoCapture({self.index}) could not open it)")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if w > 0 and h > 0:
            self.size = (w, h)
        fps = cap.get(cv2.CAP_PROP_FPS)
        if fps and fps > 0:
            self.fps = float(fps)
        self._cap = cap

    def _run(self) -> None:
        cap = self._cap
        while not self._stop.is_set():
            if not cap.grab():  # blocks until the camera delivers the next frame
                raise CameraError(f"webcam {self.index} stopped delivering frames (unplugged?)")
            t = now()
            ok, image = cap.retrieve()
            if not ok:
                raise CameraError(f"webcam {self.index}: could not decode a frame")
            self._emit(image, t)

    def _close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


class VideoFileSource(CameraSource):
    """A video file played as a camera.

    realtime=True: frames are emitted at the file's fps and stamped with the host time of emission.
    realtime=False: as fast as the sink takes them, stamped on the file's own timeline
    (``t_start + i / fps``), for offline processing.
    loop: start again at the end; otherwise the end of the file stops the source (state "stopped").
    """

    kind = "video"

    def __init__(self, path, realtime: bool = True, loop: bool = False):
        self.path = Path(path)
        if not self.path.is_file():
            raise CameraError(f"video file not found: {self.path}")
        cap = cv2.VideoCapture(str(self.path))
        try:
            ok, first = cap.read() if cap.isOpened() else (False, None)
            if not ok:
                raise CameraError(f"cannot read video file {self.path} (not a video, or no codec for it)")
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.n_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            cap.release()
        super().__init__(fps if fps and fps > 0 else 30.0, (first.shape[1], first.shape[0]))
        self.realtime = realtime
        self.loop = loop
        self._cap: cv2.VideoCapture | None = None

    def describe(self) -> dict:
        return {**super().describe(), "path": str(self.path), "frames_in_file": self.n_frames,
                "realtime": self.realtime}

    def _open(self) -> None:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise CameraError(f"cannot open video file {self.path}")
        self._cap = cap

    def _run(self) -> None:
        cap = self._cap
        t_start = now()
        i = 0
        while not self._stop.is_set():
            ok, image = cap.read()
            if not ok:
                if self.loop and i > 0:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                return  # end of file
            due = t_start + i / self.fps
            if self.realtime:
                if self._pace(due):
                    return
                t = now()
            else:
                t = due
            self._emit(image, t)
            i += 1

    def _close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


class ImageFolderSource(CameraSource):
    """Still images shown as a camera at ``fps`` (each for ``hold`` frames), resized to the first
    image's size (or ``size``). loop: cycle forever; otherwise stop after the last image."""

    kind = "images"

    def __init__(self, paths_or_folder, fps: float = 10.0, hold: int = 1, loop: bool = True,
                 size: tuple[int, int] | None = None):
        paths = self._collect(paths_or_folder)
        self.images = []
        for p in paths:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is None:
                raise CameraError(f"cannot read image {p}")
            self.images.append(img)
        if size is None:
            size = (self.images[0].shape[1], self.images[0].shape[0])
        self.images = [im if (im.shape[1], im.shape[0]) == tuple(size) else cv2.resize(im, tuple(size))
                       for im in self.images]
        super().__init__(fps, size)
        self.paths = paths
        self.hold = max(1, int(hold))
        self.loop = loop

    @staticmethod
    def _collect(spec) -> list[Path]:
        if isinstance(spec, (str, Path)):
            folder = Path(spec)
            if folder.is_dir():
                paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
                if not paths:
                    raise CameraError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {folder}")
                return paths
            spec = [folder]
        paths = [Path(p) for p in spec]
        if not paths:
            raise CameraError("no image paths given")
        for p in paths:
            if not p.is_file():
                raise CameraError(f"image not found: {p}")
        return paths

    def describe(self) -> dict:
        folders = sorted({str(p.parent) for p in self.paths})
        return {**super().describe(), "images": len(self.paths), "folders": folders, "hold": self.hold}

    def _run(self) -> None:
        t_start = now()
        i = 0
        total = len(self.images) * self.hold
        while self.loop or i < total:
            if self._pace(t_start + i / self.fps):
                return
            self._emit(self.images[(i // self.hold) % len(self.images)].copy(), now())
            i += 1


# -- the synthetic camera ------------------------------------------------------------------------

SKIN_BGR = (128, 160, 214)
SKIN_SHADE_BGR = (96, 122, 178)
BACKGROUND_BGR = (200, 196, 188)
_FINGER_CHAINS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
_PALM = (0, 1, 2, 5, 9, 13, 17)


def render_hand(image: np.ndarray, img_lm: np.ndarray, background=BACKGROUND_BGR) -> np.ndarray:
    """Draw a hand from (21, 3) normalised image landmarks onto ``image`` (H, W, 3) BGR, in place.

    Skin-toned forearm, palm polygon and finger capsules (thick anti-aliased lines with round caps)
    with a darker outline, drawn far to near so nearer fingers cover farther ones, then softened
    like a webcam image (a Gaussian blur, sigma 2 px), which is also what lets MediaPipe find it.
    """
    h, w = image.shape[:2]
    cv2.rectangle(image, (0, 0), (w, h), background, -1)  # ~30x faster than numpy broadcasting
    sub = 4  # sub-pixel precision for cv2 drawing (shift=2)
    pts = img_lm[:, :2] * (w, h)
    P = np.round(pts * sub).astype(np.int32)
    palm_len = float(np.linalg.norm(pts[9] - pts[0]))
    width = max(3, int(0.22 * palm_len))
    # Forearm: from the wrist away from the middle knuckle, off the image.
    away = pts[0] - pts[9]
    away /= max(np.linalg.norm(away), 1e-6)
    arm_end = np.round((pts[0] + away * 3 * palm_len) * sub).astype(np.int32)
    for color, extra in ((SKIN_SHADE_BGR, 2), (SKIN_BGR, 0)):
        cv2.line(image, tuple(P[0]), tuple(arm_end), color, int(1.9 * width) + extra, cv2.LINE_AA, 2)
    hull = cv2.convexHull(P[list(_PALM)])
    cv2.polylines(image, [hull], True, SKIN_SHADE_BGR, 3, cv2.LINE_AA, 2)
    cv2.fillConvexPoly(image, hull, SKIN_BGR, cv2.LINE_AA, 2)
    order = sorted(_FINGER_CHAINS, key=lambda c: -float(img_lm[list(c), 2].mean()))
    for chain in order:
        base = 0 if chain[0] == 1 else None  # the thumb's root joins the wrist
        joints = ([base] if base is not None else []) + list(chain)
        for k, (a, b) in enumerate(zip(joints[:-1], joints[1:])):
            taper = 1.0 - 0.08 * k
            wd = int(width * taper * (1.15 if chain[0] == 1 else 1.0))
            cv2.line(image, tuple(P[a]), tuple(P[b]), SKIN_SHADE_BGR, wd + 2, cv2.LINE_AA, 2)
            cv2.line(image, tuple(P[a]), tuple(P[b]), SKIN_BGR, wd, cv2.LINE_AA, 2)
        # Knuckle creases and a nail hint at the tip.
        for j in chain[1:-1]:
            cv2.circle(image, tuple(P[j]), max(1, width // 6) * sub, SKIN_SHADE_BGR, 1, cv2.LINE_AA, 2)
        cv2.circle(image, tuple(P[chain[-1]]), max(1, width // 4) * sub, (170, 190, 228), -1, cv2.LINE_AA, 2)
    # Blur only around the hand: the plain background is unchanged by it (a third of the cost).
    drawn = np.vstack([pts, (arm_end / sub)[None]])
    x0, y0 = np.clip(np.floor(drawn.min(axis=0)).astype(int) - 2 * width, 0, (w, h))
    x1, y1 = np.clip(np.ceil(drawn.max(axis=0)).astype(int) + 2 * width, 0, (w, h))
    if x1 > x0 and y1 > y0:
        image[y0:y1, x0:x1] = cv2.GaussianBlur(image[y0:y1, x0:x1], (0, 0), 2.0)
    return image


class SyntheticCamera(CameraSource):
    """Renders the synthetic subject's hand at ``fps``. Frame time = host time at capture.

    Each frame carries the exact landmarks of the hand it shows (``truth_world_mm`` in mm,
    ``truth_image`` normalised). With the subject's realism switches (``subject.realism``, applied by
    :class:`~recorder.sources.synthetic.CameraEffects`, as in offline synthetic sessions): a frame
    stamped t shows the hand at t - ``subject.camera_latency_s`` +- 10 ms (the image and the truth
    alike), and ``frame.detected`` holds what a MediaPipe-like detector would report (landmark
    noise, dropout runs, wrong-hand frames), which the landmark worker's truth/auto mode passes on;
    MediaPipe mode sees only the image. seed: the effects' random draws (default from the subject's
    seed and session).
    """

    kind = "synthetic"

    def __init__(self, subject, fps: float = 30.0, size: tuple[int, int] = (640, 480), seed: int | None = None):
        super().__init__(fps, size)
        from recorder.sources.synthetic import CameraEffects
        self.subject = subject
        seq = [subject.seed, subject.session, 0xCA3E] if seed is None else [int(seed), 0xCA3E]
        self.effects = CameraEffects(subject, np.random.default_rng(seq))

    def describe(self) -> dict:
        return {**super().describe(), "seed": self.subject.seed,
                "camera_latency_s": self.subject.camera_latency_s}

    def capture(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Render the frame stamped at host time t: (BGR image (H, W, 3), world (21, 3) mm, image (21, 3))
        of the hand it shows (at t with an ideal subject, t - latency with a realistic one)."""
        image, obs = self._observe(t)
        return image, obs.world_mm[0], obs.image[0]

    def _observe(self, t: float):
        w, h = self.size
        obs = self.effects.observe([t], w, h)
        image = np.empty((h, w, 3), np.uint8)
        render_hand(image, obs.image[0])
        return image, obs

    def _run(self) -> None:
        t_start = now()
        i = 0
        detector = self.effects.detector_effects
        while not self._pace(t_start + i / self.fps):
            t = now()
            image, obs = self._observe(t)
            detected = None
            if detector:  # t and frame_index are the frame's (truth_landmarks stamps them)
                detected = (Landmarks(obs.det_image[0], obs.det_world_mm[0], 1.0,
                                      "Left" if obs.wrong[0] else "Right", t, -1)
                            if obs.hand[0] else Landmarks.empty(t, -1))
            self._emit(image, t, truth_world_mm=obs.world_mm[0], truth_image=obs.image[0], detected=detected)
            i += 1
            late = now() - (t_start + i / self.fps)
            if late > 1.0:  # the host stalled: skip ahead instead of bursting to catch up
                i += int(late * self.fps)


def draw_landmarks(image: np.ndarray, img_lm: np.ndarray, color=(0, 255, 0)) -> np.ndarray:
    """Draw a (21, 3) normalised landmark skeleton on a BGR image in place (no-op for NaN)."""
    if not np.isfinite(img_lm).all():
        return image
    h, w = image.shape[:2]
    p = np.round(img_lm[:, :2] * (w, h)).astype(int)
    for a, b in HAND_CONNECTIONS:
        cv2.line(image, tuple(p[a]), tuple(p[b]), color, 2, cv2.LINE_AA)
    for q in p:
        cv2.circle(image, tuple(q), 3, (0, 0, 255), -1, cv2.LINE_AA)
    return image


def open_camera(spec, subject=None, **options) -> CameraSource | None:
    """A camera from a spec: "synthetic" (needs or makes a subject), "none" (returns None), a webcam
    index ("0"), a video file, an image file or a folder of images. ``options`` go to the class
    (e.g. fps, size, realtime, loop)."""
    if isinstance(spec, int):
        return WebcamSource(spec, **options)
    s = str(spec).strip()
    if s.lower() in ("none", ""):
        return None
    if s.lower() == "synthetic":
        if subject is None:
            from recorder.sources.synthetic import SyntheticSubject
            subject = SyntheticSubject()
        return SyntheticCamera(subject, **options)
    if s.isdigit():
        return WebcamSource(int(s), **options)
    p = Path(s).expanduser()
    if p.is_dir():
        return ImageFolderSource(p, **options)
    if p.is_file():
        if p.suffix.lower() in IMAGE_SUFFIXES:
            return ImageFolderSource([p], **options)
        return VideoFileSource(p, **options)
    raise CameraError(f"camera spec {s!r} is not 'synthetic', 'none', a webcam index, "
                      f"or an existing video file / image folder")
