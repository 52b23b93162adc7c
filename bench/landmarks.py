"""Landmarks: MediaPipe frames/s inside the pipeline (LandmarkWorker) vs HandDetector called directly
on the same frames, and end-to-end camera-to-landmark latency from a paced camera source.

Frames: the real HaGRID hand photos in /work/shared/data/hands/hagrid (each held for a few frames
to make a video-like sequence, 640x480), or the synthetic camera's renders when that folder is absent.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from .core import ROOT, Context, Row, percentiles_ms

GROUP = "landmarks"
HAGRID = [ROOT.parent / "shared" / "data" / "hands" / "hagrid", Path("/work/shared/data/hands/hagrid")]


def hagrid_folder() -> Path | None:
    """The real HaGRID hand photos (../shared/data/hands/hagrid), or None when absent."""
    return next((p for p in HAGRID if p.is_dir()), None)


def _frames(n_images: int, hold: int) -> tuple[list[np.ndarray], str, list[Path]]:
    import cv2

    folder = hagrid_folder()
    if folder is not None:
        paths = sorted(folder.glob("*.png"))[:n_images]
        imgs = [cv2.resize(cv2.imread(str(p)), (640, 480)) for p in paths]
        return [im for im in imgs for _ in range(hold)], f"HaGRID photos ({len(paths)} x {hold} frames)", paths
    from recorder.capture.camera import SyntheticCamera
    from recorder.sources.synthetic import SyntheticSubject
    cam = SyntheticCamera(SyntheticSubject(seed=0))
    imgs = [cam.capture(1000.0 + i / 30)[0] for i in range(n_images * hold)]
    return imgs, "synthetic renders (HaGRID folder absent)", []


def _direct(frames) -> float:
    from recorder.capture.landmarks import HandDetector
    with HandDetector(static_image_mode=False) as det:
        det.process(frames[0])  # model warm-up outside the timing, as the worker does in start()
        t = time.perf_counter()
        for i, im in enumerate(frames):
            det.process(im, 0.0, i)
        return len(frames) / (time.perf_counter() - t)


def _pipeline(frames) -> float:
    from recorder.core.clock import now
    from recorder.capture.landmarks import LandmarkWorker
    from recorder.core.types import Frame

    done = threading.Event()
    count = [0]

    def sink(frame, lm):
        count[0] += 1
        if count[0] == len(frames) + 1:
            done.set()

    w = LandmarkWorker(mode="mediapipe", queue_size=len(frames) + 2)
    w.start(sink)
    try:
        w.submit(Frame(frames[0], now(), -1))  # same warm-up frame as the direct run
        while count[0] < 1:
            time.sleep(0.01)
        t = time.perf_counter()
        for i, im in enumerate(frames):
            w.submit(Frame(im, now(), i))
        done.wait(600)
        return len(frames) / (time.perf_counter() - t)
    finally:
        w.stop()


def run(ctx: Context) -> list[Row]:
    try:
        import mediapipe  # noqa: F401
    except ImportError as e:
        return [Row(GROUP, "MediaPipe", None, status="SKIP", note=f"mediapipe not importable: {e}")]
    frames, source, paths = _frames(ctx.pick(20, 51), ctx.pick(3, 4))
    direct, pipe = [], []
    for _ in range(2):  # interleaved, best of two: load from other processes hits both alike
        direct.append(_direct(frames))
        pipe.append(_pipeline(frames))
    d, p = max(direct), max(pipe)
    rows = [Row(GROUP, "MediaPipe direct (HandDetector.process loop)", d, "frames/s", note=source),
            Row(GROUP, "MediaPipe inside the pipeline (LandmarkWorker)", p, "frames/s", note=source),
            Row(GROUP, "pipeline / direct frames/s", p / d, "ratio", ">= 0.95",
                note=f"runs direct {', '.join(f'{v:.1f}' for v in direct)}; pipeline {', '.join(f'{v:.1f}' for v in pipe)}")]
    # End-to-end: a paced camera (15 fps) -> worker; latency = capture time to landmarks ready.
    from recorder.capture.camera import ImageFolderSource
    from recorder.capture.landmarks import LandmarkWorker
    lat: list[float] = []
    w = LandmarkWorker(mode="mediapipe")
    w.start(lambda f, lm: lat.append(lm.latency_s))
    if paths:
        cam = ImageFolderSource(paths, fps=15.0, hold=3, size=(640, 480))
    else:
        from recorder.capture.camera import SyntheticCamera
        from recorder.sources.synthetic import SyntheticSubject
        cam = SyntheticCamera(SyntheticSubject(seed=0), fps=15.0)
    cam.start(w.submit)
    time.sleep(ctx.pick(10.0, 30.0))
    cam.stop()
    w.stop()
    st = w.stats()
    p50, p95 = percentiles_ms(np.asarray(lat), (50, 95))
    rows += [Row(GROUP, "camera-to-landmarks latency p50 (15 fps camera, 640x480)", p50, "ms",
                 note=f"{len(lat)} frames, {st['dropped']} dropped"),
             Row(GROUP, "camera-to-landmarks latency p95", p95, "ms")]
    return rows
