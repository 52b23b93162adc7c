"""LiveRunner: predicts as EMG arrives (capped at its rate), survives a model that raises, reports
the error, measures arrival -> prediction latency and stops at once; ``emgrec lsl publish --model``
runs it."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from recorder.core.clock import now
from recorder.live.predictor import LivePrediction
from recorder.live.runner import LiveRunner
from recorder.core.types import EmgChunk


class FlakyPredictor:
    """A LivePredictor stand-in: a prediction per call once pushed, raising on call number ``fail_on``."""

    task = "pose"
    n_channels = 8
    rate_hz = 200.0

    def __init__(self, fail_on: int = 1):
        self.fail_on = fail_on
        self.calls = 0
        self.t_last = None
        self.lock = threading.Lock()

    def check_source(self, rate_hz, n_channels):
        pass

    def push(self, chunk):
        with self.lock:
            self.t_last = float(chunk.t[-1])

    def predict(self):
        with self.lock:
            t_last = self.t_last
        if t_last is None:
            return None
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("model blew up on live data")
        return LivePrediction(np.zeros((21, 3), np.float32), None, None, t_last, 1e-4, 0.0)

    def latency_stats(self):
        return {"n": 0}


def _feed(runner, seconds: float, chunk_s: float = 0.02, stop: threading.Event | None = None) -> int:
    """Push 8-channel chunks every chunk_s (like a 200 Hz device) for ``seconds``; returns chunks pushed."""
    n, i, t_end = int(200 * chunk_s), 0, time.monotonic() + seconds
    k = 0
    while time.monotonic() < t_end and not (stop and stop.is_set()):
        t = now()
        runner.push(EmgChunk(x=np.zeros((n, 8), np.float32), t=t - np.arange(n)[::-1] / 200.0, first_index=i,
                             arrival=t))
        i += n
        k += 1
        time.sleep(chunk_s)
    return k


def test_survives_a_model_that_raises_once_and_reports_it():
    pred = FlakyPredictor(fail_on=1)
    got, errors = [], []
    runner = LiveRunner(pred, rate_hz=30.0, on_prediction=lambda p, a, t: got.append((p, a, t)),
                        on_error=lambda e, n: errors.append((str(e), n)))
    runner.start()
    try:
        _feed(runner, 1.0)
    finally:
        assert runner.stop(2.0)
    assert not runner.running
    # The first prediction raised: counted, kept, reported once; the loop went on predicting.
    assert runner.errors == 1 and errors == [("model blew up on live data", 1)]
    assert runner.last_error == "RuntimeError: model blew up on live data"
    assert len(got) >= 5 and runner.predictions == len(got)
    st = runner.stats()
    assert st["errors"] == 1 and st["predictions"] == len(got)
    # Arrival -> ready: positive and small (a fake model); the rate stays under its cap.
    assert st["prediction"]["n"] == len(got) and 0 <= st["prediction"]["p50_ms"] < 200
    assert all(np.isfinite(a) and t >= a for _, a, t in got)
    assert 0 < st["rate_hz"] <= 36


def test_a_failing_listener_is_an_error_not_the_end():
    pred = FlakyPredictor(fail_on=0)
    calls = []

    def on_prediction(p, a, t):
        calls.append(t)
        if len(calls) == 2:
            raise ValueError("the outlet went away")
    runner = LiveRunner(pred, rate_hz=50.0, on_prediction=on_prediction,
                        on_error=lambda e, n: (_ for _ in ()).throw(OSError("so did the error listener")))
    runner.start()
    try:
        _feed(runner, 0.6)
    finally:
        runner.stop()
    assert runner.errors == 1 and "outlet went away" in runner.last_error and len(calls) >= 4


def test_no_prediction_without_emg_and_stop_is_prompt():
    pred = FlakyPredictor(fail_on=0)
    runner = LiveRunner(pred, rate_hz=30.0).start()
    time.sleep(0.2)
    t0 = time.monotonic()
    assert runner.stop(2.0) and time.monotonic() - t0 < 0.5
    assert pred.calls == 0 and runner.predictions == 0 and runner.stats()["prediction"] == {"n": 0}
    with pytest.raises(ValueError):
        LiveRunner(pred, rate_hz=0)


def test_lsl_publish_runs_the_runner_and_survives_a_failing_model(monkeypatch, capsys):
    """``emgrec lsl publish --model``: the prediction loop is LiveRunner; a model that raises once
    is reported and the loop keeps publishing (the old thread died on the first exception)."""
    pytest.importorskip("pylsl")
    import uuid

    import recorder.live.predictor
    import recorder.live.runner
    from recorder.cli.emgrec import main

    made = []

    class Spy(LiveRunner):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)
    monkeypatch.setattr(recorder.live.predictor, "LivePredictor", lambda path: FlakyPredictor(fail_on=1))
    monkeypatch.setattr(recorder.live.runner, "LiveRunner", Spy)
    name = f"test-runner-{uuid.uuid4().hex[:8]}"
    assert main(["lsl", "publish", "--emg", "synthetic:200x8", "--name", name, "--model", "fake",
                 "--duration", "2", "--predict-hz", "25"]) == 0
    out, err = capsys.readouterr()
    assert len(made) == 1 and not made[0].running
    r = made[0].stats()
    assert r["errors"] == 1 and r["predictions"] >= 5
    assert "prediction failed (RuntimeError: model blew up on live data); still predicting" in err
    assert f"publishing {name}-Predictions" in out and "1 failed (last: RuntimeError" in out


class RestartingPredictor(FlakyPredictor):
    """Like LivePredictor after an EMG gap: no prediction (None) until ``full`` is set (a full window)."""

    def __init__(self):
        super().__init__(fail_on=0)
        self.full = True
        self.nones = 0

    def predict(self):
        if not self.full:
            self.nones += 1
            return None
        return super().predict()


def test_the_chunk_completing_a_window_after_a_gap_is_predicted_at_once():
    """After an idle gap the window restarts; the chunks before it is full give no prediction and
    must not spend the rate's deadline, so the chunk that completes it is predicted at once, not a
    period later (the old loop waited for the next chunk after that deadline; here none comes)."""
    pred = RestartingPredictor()
    got = []
    runner = LiveRunner(pred, rate_hz=2.0, on_prediction=lambda p, a, t: got.append((a, t))).start()

    def push():
        t = now()
        runner.push(EmgChunk(x=np.zeros((4, 8), np.float32), t=t - np.arange(4)[::-1] / 200.0, first_index=0,
                             arrival=t))

    try:
        push()
        deadline = time.monotonic() + 2.0
        while not got and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(got) == 1
        time.sleep(0.6)  # idle gap, longer than the 0.5 s period
        pred.full = False
        push()  # the window restarts: no prediction
        deadline = time.monotonic() + 2.0
        while pred.nones == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert pred.nones == 1 and len(got) == 1
        pred.full = True
        push()  # completes the window, well within a period of the one before
        deadline = time.monotonic() + 0.4
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        assert runner.stop(2.0)
    assert len(got) == 2, "the completing chunk waited for a deadline spent on a call with no window"
    arrival, t_ready = got[1]
    assert t_ready - arrival < 0.4
