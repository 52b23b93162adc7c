"""Build small test videos from the real HaGRID hand photos (shared data, never copied into the repo).

``make_gesture_video(out, [palm, fist, palm], hold=8, fps=15)`` writes an MJPG AVI in which each
photo is held for ``hold`` frames, i.e. a hand that opens, closes and opens again.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def make_gesture_video(out: Path, photos: list[Path], hold: int = 8, fps: float = 15.0,
                       size: tuple[int, int] = (296, 296)) -> Path:
    """Write ``photos`` (each resized to ``size`` (W, H) and held ``hold`` frames) to an AVI; returns out."""
    out = Path(out)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write MJPG video to {out}")
    try:
        for p in photos:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f"cannot read photo {p}")
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            for _ in range(hold):
                writer.write(np.ascontiguousarray(img))
    finally:
        writer.release()
    return out
