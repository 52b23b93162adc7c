"""Capture's typed listeners (recorder.core.types.CaptureListener): each event reaches its own method,
a listener implementing one event gets only that one, and the old ``fn(kind, payload)`` shape is
refused. The sinks are driven by hand (no device threads), so the order of events is exact."""
import logging
import threading

import numpy as np
import pytest

from recorder.capture.engine import Capture, CaptureListener, CaptureListenerBase
from recorder.core.clock import now
from recorder.sources.factory import open_emg
from recorder.core.types import DeviceState, DeviceStatus, EmgChunk, Frame, Landmarks


class Recorder(CaptureListenerBase):
    """Every event, as (method, argument)."""

    def __init__(self):
        self.got = []

    def on_emg(self, chunk):
        self.got.append(("emg", chunk))

    def on_frame(self, frame):
        self.got.append(("frame", frame))

    def on_landmarks(self, lm):
        self.got.append(("landmarks", lm))

    def on_error(self, message):
        self.got.append(("error", message))

    def on_recording(self, state):
        self.got.append(("recording", state))

    def on_device_state(self, state):
        self.got.append(("device_state", state))

    def on_marker(self, t_host, text):
        self.got.append(("marker", text))

    def on_label(self, name, t_host, opened):
        self.got.append(("label", name, opened))


@pytest.fixture
def capture():
    cap = Capture(open_emg("synthetic"))  # never started: the test calls the sinks itself
    yield cap
    cap.stop()


def _chunk(first: int, n: int = 10) -> EmgChunk:
    t = now() + np.arange(n) / 200.0
    return EmgChunk(np.zeros((n, 8), np.int8), t, first, float(t[-1]))


def _feed_all(cap: Capture) -> tuple:
    chunk = _chunk(0)
    frame = Frame(np.zeros((4, 4, 3), np.uint8), now(), 0)
    lm = Landmarks.empty(frame.t, 0)
    cap._on_emg(chunk)
    cap._on_frame(frame)
    cap._on_landmarks(frame, lm)
    cap._on_status(DeviceStatus(DeviceState.RECONNECTING, last_error="link lost"))
    cap._on_status(DeviceStatus(DeviceState.RECONNECTING, last_error="link lost"))  # no change: no event
    cap._on_status(DeviceStatus(DeviceState.STREAMING))
    return chunk, frame, lm


def test_each_event_reaches_its_method_with_typed_arguments(capture, tmp_path):
    rec = Recorder()
    capture.add_listener(rec)
    chunk, frame, lm = _feed_all(capture)
    capture.start_recording(tmp_path / "s.h5")
    capture.pause_recording()
    capture.resume_recording()
    capture.stop_recording()
    assert rec.got == [("emg", chunk), ("frame", frame), ("landmarks", lm),
                       ("device_state", DeviceState.RECONNECTING), ("error", "myo: link lost"),
                       ("device_state", DeviceState.STREAMING),
                       ("recording", "recording"), ("recording", "paused"), ("recording", "recording"),
                       ("recording", "stopped")]
    assert rec.got[3][1] is DeviceState.RECONNECTING  # the enum itself, not "emg:reconnecting"


def test_a_listener_implementing_one_event_gets_only_that(capture, caplog):
    errors = []

    class OnlyErrors(CaptureListenerBase):
        def on_error(self, message):
            errors.append(message)

    capture.add_listener(OnlyErrors())
    with caplog.at_level(logging.ERROR, logger="recorder.capture.engine"):
        _feed_all(capture)
        capture._on_writer_error(OSError(28, "No space left on device"))
    assert errors == ["myo: link lost", "recording stopped: could not write None: [Errno 28] No space left on device"]
    assert not [r for r in caplog.records if "listener" in r.getMessage()]  # the no-op defaults raised nothing


def test_old_callables_and_incomplete_objects_are_refused(capture):
    with pytest.raises(TypeError, match="CaptureListener"):
        capture.add_listener(lambda kind, payload: None)

    class NoBase:  # duck-typed but missing on_device_state
        def on_emg(self, chunk): ...
        def on_frame(self, frame): ...
        def on_landmarks(self, lm): ...
        def on_error(self, message): ...
        def on_recording(self, state): ...

    with pytest.raises(TypeError):
        capture.add_listener(NoBase())
    assert isinstance(Recorder(), CaptureListener)
    assert capture._listeners == []


def test_a_failing_listener_does_not_stop_the_others_and_remove_works(capture, caplog):
    class Broken(CaptureListenerBase):
        def on_emg(self, chunk):
            raise RuntimeError("boom")

    rec = Recorder()
    capture.add_listener(Broken())
    capture.add_listener(rec)
    with caplog.at_level(logging.ERROR, logger="recorder.capture.engine"):
        capture._on_emg(_chunk(0))
    assert [g[0] for g in rec.got] == ["emg"]
    assert any("failed" in r.getMessage() for r in caplog.records)
    capture.remove_listener(rec)
    capture._on_emg(_chunk(10))
    assert len(rec.got) == 1


def test_markers_and_labels_reach_listeners_only_while_recording(capture, tmp_path):
    rec = Recorder()
    capture.add_listener(rec)
    capture.add_marker("before")            # not recording: neither stored nor announced
    capture.label_on("fist")
    capture.label_off("fist")
    assert rec.got == []
    capture.start_recording(tmp_path / "s.h5")
    capture.add_marker("redo")
    capture.label_on("fist")
    capture.label_on("fist")                # already open: no second "opened"
    capture.label_off("fist")
    assert capture.toggle_label("point") is True
    capture.stop_recording()                # closes "point" and announces it
    assert [e for e in rec.got if e[0] != "recording"] == [
        ("marker", "redo"), ("label", "fist", True), ("label", "fist", False),
        ("label", "point", True), ("label", "point", False)]


def test_a_label_listener_may_wait_on_another_thread_that_calls_back_into_the_capture(capture, tmp_path):
    # A listener that hands the event to another thread and waits for it (as a GUI relay blocking
    # on its own thread would): that thread's call into the capture must not wait for the caller's
    # lock, so each label event reaches listeners after the capture released it.
    class CallsBack(CaptureListenerBase):
        def __init__(self):
            self.got, self.stuck = [], []

        def on_label(self, name, t_host, opened):
            worker = threading.Thread(target=lambda: (capture.add_marker(f"{name} {opened}"), capture.status()),
                                      daemon=True)
            worker.start()
            worker.join(2.0)
            (self.stuck if worker.is_alive() else self.got).append((name, opened))

    listener = CallsBack()
    capture.add_listener(listener)
    capture.start_recording(tmp_path / "s.h5")
    capture.label_on("fist")
    capture.label_off("fist")                      # closed under label_off
    capture.toggle_label("point")
    capture.toggle_label("point")                  # closed under toggle_label
    capture.label_on("rest")
    capture.add_label(now() - 0.5, now(), "open")  # stored directly
    capture.stop_recording()                       # closes "rest"
    assert listener.stuck == []
    assert listener.got == [("fist", True), ("fist", False), ("point", True), ("point", False),
                            ("rest", True), ("open", False), ("rest", False)]
