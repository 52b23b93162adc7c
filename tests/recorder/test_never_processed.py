"""Frames never processed by the landmark model (score NaN) are told apart from frames processed
without a hand (score 0): in the reader's summary, in ``emgrec info``, and for a frame whose
detection failed in the landmark worker (issue 15, "Also seen")."""

from __future__ import annotations

import numpy as np

from recorder.cli.emgrec import main
from recorder.capture.landmarks import LandmarkWorker
from recorder.session.format import SessionReader, SessionWriter
from recorder.core.types import EmgChunk, Frame, Landmarks


def test_info_counts_frames_never_processed_apart_from_no_hand(tmp_path, capsys):
    path = tmp_path / "s.h5"
    w = SessionWriter(path, sample_rate_hz=200, channel_names=["a"], t0=0.0, flush_interval_s=0.05).start()
    w.add_emg(EmgChunk(np.zeros((200, 1), np.int16), np.arange(200) / 200, 0, 0.0))
    hand = np.full((21, 3), 5.0, np.float32)
    for i in range(7):
        w.add_frame(Frame(np.full((16, 16, 3), 40 * i % 250, np.uint8), i / 10, i))
        if i < 3:  # a hand
            w.add_landmarks(Landmarks(hand, hand, 0.9, "Right", i / 10, i))
        elif i < 5:  # looked at, no hand
            w.add_landmarks(Landmarks.empty(i / 10, i))
        # 5, 6: never processed (landmark mode off, the worker had no time for them)
    w.close()
    with SessionReader(path) as r:
        s = r.summary()
        assert (s["frames"], s["frames_with_hand"], s["frames_never_processed"]) == (7, 3, 2)
        score = np.asarray(r.landmarks_score[:])
        assert np.isnan(score[5:]).all() and (score[3:5] == 0).all()
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 with a hand, 2 processed without a hand, frames never processed: 2" in out


def test_a_frame_the_worker_failed_on_counts_as_not_processed():
    frames = [Frame(np.zeros((8, 8, 3), np.uint8), k / 10, k) for k in range(3)]
    got: dict[int, Landmarks] = {}
    worker = LandmarkWorker(mode="truth", queue_size=8)

    def landmarks(frame):
        if frame.index == 1:
            raise ValueError("bad image")
        return Landmarks.empty(frame.t, frame.index)  # no truth: looked at, no hand

    worker._landmarks = landmarks
    worker.start(lambda f, lm: got.__setitem__(f.index, lm))
    for f in frames:
        worker.submit(f)
    worker.stop(drain=True)
    assert sorted(got) == [0, 1, 2]
    assert got[0].score == 0 and got[2].score == 0 and np.isnan(got[1].score) and not got[1].has_hand
    assert "frame 1: bad image" in worker.stats()["last_error"]
