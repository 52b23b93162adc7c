"""Offline synthetic sessions: write minutes of synthetic-subject data in seconds.

:func:`make_synthetic_session` evaluates a :class:`~recorder.sources.synthetic.SyntheticSubject` on sample
and frame grids (it is a pure function of time, so nothing runs in real time) and writes the result
through the ordinary :class:`~recorder.session.format.SessionWriter`, so the file is exactly what a live
recording would produce: EMG int8 counts at ``sample_rate_hz`` Hz, landmarks (world mm, normalised image)
per frame at ``frame_rate`` fps, optional rendered frames, the schedule's gesture labels, and
optional gaps (samples removed and the gap recorded). Used by tests, benchmarks and the demo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from recorder.core.types import EmgChunk, Frame, Landmarks

#: Host-clock second at which simulated sessions start (any value works; session seconds = host - t0).
T0_HOST = 1000.0


def _placeholder_jpeg() -> bytes:
    """A tiny grey JPEG stored for every frame when camera=False (the format keeps one per frame)."""
    import cv2
    ok, buf = cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return buf.tobytes()


def make_synthetic_session(path: str | Path, duration_s: float = 60.0, seed: int = 0, camera: bool = False,
                           frame_rate: float = 30.0, sample_rate_hz: float = 200.0, n_channels: int = 8,
                           gaps: Sequence[tuple[float, float]] = (), hand_dropout: float = 0.0,
                           frame_size: tuple[int, int] = (320, 240), chunk_s: float = 2.0,
                           realism: str | dict | None = None, session: int = 0, *,
                           emg_rate: float | None = None) -> Path:
    """Write a synthetic session file and return its path.

    duration_s: seconds of data; seed: the subject (schedule, mixing, hand size);
    camera: render frames of the hand (slower; else a tiny placeholder JPEG per frame);
    frame_rate: fps of frames/landmarks; sample_rate_hz: Hz of the int8 EMG (Myo raw is 200;
    ``emg_rate``, its old name, still works with a DeprecationWarning);
    gaps: (start_s, end_s) session-second intervals with no EMG (recorded in /emg/gaps);
    hand_dropout: fraction of frames, chosen at random, written without a hand (NaN landmarks).
    realism: None (ideal band and camera), "realistic" or a dict of
    :data:`recorder.sources.synthetic.REALISM_OFF` switches; session: which session of the subject (band
    placement, drifts, camera latency and where in the schedule it starts differ per session).
    The true EMG-to-video lag is written to the metadata (``settings.truth_lag_s``).
    """
    from recorder.capture.camera import render_hand
    from recorder.session.format import SessionWriter
    from recorder.sources.synthetic import CameraEffects, SyntheticSubject

    if emg_rate is not None:   # the old keyword: docs/models.md shows users this function
        import warnings
        warnings.warn("make_synthetic_session(emg_rate=...) is now sample_rate_hz=...", DeprecationWarning,
                      stacklevel=2)
        sample_rate_hz = emg_rate
    path = Path(path)
    t0 = T0_HOST
    # Another session starts elsewhere in the subject's schedule (137 s on per session).
    subject = SyntheticSubject(seed=seed, n_channels=n_channels, t_origin=t0 - 137.0 * int(session),
                               sample_rate_hz=sample_rate_hz, realism=realism, session=session)
    real = subject.realism
    rng = np.random.default_rng([seed, 0xF4A3] + ([int(session), 1] if session else []))
    # The live SyntheticCamera's effects (latency, landmark noise, dropouts, wrong hand); dropout runs
    # are cut at each 2 s frame chunk, as they always were here, so a seed writes the same session.
    effects = CameraEffects(subject, rng, hand_dropout=hand_dropout, runs_across_calls=False)
    meta = {"subject": f"synthetic-{seed}", "hand": "right", "notes": "written by recorder.imports.synthetic_sessions",
            "device": {"kind": "synthetic", "sample_rate_hz": sample_rate_hz, "seed": seed,
                       "channel_names": [f"ch{i + 1}" for i in range(n_channels)]},
            "settings": {"generator": "recorder.imports.synthetic_sessions.make_synthetic_session", "duration_s": duration_s,
                         "seed": seed, "camera": camera, "frame_rate": frame_rate, "emg_rate": sample_rate_hz,
                         "gaps": [list(g) for g in gaps], "hand_dropout": hand_dropout,
                         "realism": real, "session": int(session), "truth_lag_s": subject.true_lag_s,
                         "camera_latency_s": subject.camera_latency_s}}
    writer = SessionWriter(path, sample_rate_hz=sample_rate_hz, channel_names=[f"ch{i + 1}" for i in range(n_channels)],
                           units="counts", scale_to_uV=float("nan"), emg_dtype=np.int8, t0=t0, metadata=meta,
                           video=True, flush_interval_s=1.0)
    writer.start()
    placeholder = None if camera else _placeholder_jpeg()
    w, h = frame_size
    n_samples = int(round(duration_s * sample_rate_hz))
    n_frames = int(np.floor(duration_s * frame_rate)) + 1
    step = max(1, int(chunk_s * sample_rate_hz))
    try:
        for i0 in range(0, n_samples, step):
            idx = np.arange(i0, min(i0 + step, n_samples))
            ts = idx / sample_rate_hz
            keep = np.ones(len(idx), bool)
            for g0, g1 in gaps:
                keep &= ~((ts >= g0) & (ts < g1))
            # A chunk per contiguous run, so first_index stays device-continuous across a gap.
            runs = np.split(np.flatnonzero(keep), np.flatnonzero(np.diff(np.flatnonzero(keep)) > 1) + 1)
            x_all = np.round(subject.emg(t0 + ts, sample_rate_hz=sample_rate_hz)).astype(np.int8)
            for r in runs:
                if len(r):
                    writer.add_emg(EmgChunk(x=x_all[r], t=t0 + ts[r], first_index=int(idx[r[0]]),
                                            arrival=float(t0 + ts[r[-1]])))
        for g0, g1 in gaps:
            writer.add_gap(t0 + g0, t0 + g1)
        fstep = max(1, int(chunk_s * frame_rate))
        for f0 in range(0, n_frames, fstep):
            fi = np.arange(f0, min(f0 + fstep, n_frames))
            tf = t0 + fi / frame_rate
            obs = effects.observe(tf, w, h)
            for k, i in enumerate(fi):
                t = float(tf[k])
                if camera:
                    image = np.empty((h, w, 3), np.uint8)
                    render_hand(image, obs.image[k])  # the camera films the real hand, not the detector's answer
                else:
                    image = np.zeros((1, 1, 3), np.uint8)
                writer.add_frame(Frame(image=image, t=t, index=int(i), truth_world_mm=obs.world_mm[k],
                                       truth_image=obs.image[k]),
                                 jpeg=placeholder, block=True)  # offline: wait for the encoder, drop nothing
                if not obs.hand[k]:
                    writer.add_landmarks(Landmarks.empty(t, int(i)))
                else:
                    writer.add_landmarks(Landmarks(image=obs.det_image[k], world_mm=obs.det_world_mm[k], score=1.0,
                                                   handedness="Left" if obs.wrong[k] else "Right",
                                                   t=t, frame_index=int(i)))
        for s, e, name in subject.segments_between(t0, t0 + duration_s):
            writer.add_label(s, e, name)
    finally:
        writer.close()
    if writer.error is not None:
        raise OSError(f"{path}: writing the synthetic session failed: {writer.error}")
    return path
