"""Re-run hand detection (MediaPipe Hands) on the frames stored in a session, and replace its
landmarks. Used by ``emgrec redetect`` and the Review tab's "Re-run hands" (in a worker thread)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from recorder.core.errors import Cancelled, UsageError
from recorder.session.format import SessionReader, save_landmarks
from recorder.core.types import Progress, ProgressCallback

#: HandDetector options and their defaults (recorder.capture.landmarks.HandDetector).
DEFAULT_OPTIONS = dict(model_complexity=1, min_detection_confidence=0.5, min_tracking_confidence=0.5,
                       static_image_mode=False)


def detect_session_landmarks(path, options: dict, progress: ProgressCallback | None = None,
                             cancel: threading.Event | None = None) -> dict:
    """Run MediaPipe on every stored frame of a session, in order (tracking across frames).

    options: HandDetector keyword arguments (model_complexity, min_detection_confidence, ...).
    progress: called with ``Progress(frames done, n frames, "hand detection")`` after each frame. cancel: an Event; once set the run
    stops and :class:`~recorder.core.errors.Cancelled` is raised.
    Returns {"image": (F, 21, 3) float32, "world_mm": (F, 21, 3) float32 mm, "score": (F,) float32,
    "handedness": [str] * F, "options": options}; NaN rows where no hand was found. Writes nothing.
    """
    from recorder.capture.landmarks import LandmarkError, run_on_frames
    from recorder.core.types import Frame

    with SessionReader(path) as r:
        n = r.n_frames
        if n == 0:
            raise UsageError(f"{path}: session has no video frames to run hand detection on")
        vt = np.asarray(r.video_t, dtype=np.float64)
        frames = (Frame(r.frame(i), float(vt[i]), i) for i in range(n))  # decoded one at a time
        lms = run_on_frames(frames, progress=(lambda p: progress(Progress(p.done, n, "hand detection")))
                            if progress else None, cancel=cancel, **options)
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    if len(lms) != n:
        raise LandmarkError(f"{path}: hand detection returned {len(lms)} results for {n} frames")
    return {
        "image": np.stack([lm.image for lm in lms]).astype(np.float32),
        "world_mm": np.stack([lm.world_mm for lm in lms]).astype(np.float32),
        "score": np.array([lm.score for lm in lms], dtype=np.float32),
        "handedness": [lm.handedness for lm in lms],
        "options": dict(options),
    }


def redetect(path, options: dict | None = None, progress: ProgressCallback | None = None,
             cancel: threading.Event | None = None) -> dict:
    """Detect hands on the stored frames of ``path`` and replace its /landmarks (EMG, video and
    labels are not touched; nothing is written when cancelled). options: as
    :func:`detect_session_landmarks`, missing keys from :data:`DEFAULT_OPTIONS`.
    Returns {"frames": F, "hands_before": frames with a hand before, "hands_after": after}."""
    path = Path(path)
    opts = {**DEFAULT_OPTIONS, **(options or {})}
    with SessionReader(path) as r:
        before = int(np.count_nonzero(r.has_hand())) if r.n_frames else 0
    result = detect_session_landmarks(path, opts, progress=progress, cancel=cancel)
    save_landmarks(path, result["image"], result["world_mm"], result["score"],
                   handedness=result["handedness"], settings=result["options"])
    after = int(np.count_nonzero(np.isfinite(result["world_mm"][:, 0, 0])))  # as SessionReader.has_hand
    return {"frames": len(result["score"]), "hands_before": before, "hands_after": after}
