"""recorder.core.worker: the one daemon-thread start/stop and error report that the camera sources,
the EMG sources and the landmark worker share."""
import logging
import threading

import pytest

from recorder.core.types import DeviceState
from recorder.core.worker import WorkerThreadOwner, run_reporting_errors
from recorder.sources.base import DeviceError, EmgSource


class Owner(WorkerThreadOwner):
    def __init__(self):
        super().__init__()
        self.stopped_itself = threading.Event()

    def start(self, target):
        self._refuse_second_start("owner")
        self._start_thread(target, "owner-thread")


def test_start_once_stop_joins_and_a_thread_may_stop_itself():
    o = Owner()
    o.start(lambda: o._stop.wait(5.0))
    assert o.running and o._thread.daemon and o._thread.name == "owner-thread"
    with pytest.raises(RuntimeError, match="owner already started"):
        o.start(lambda: None)
    t = o._thread
    o._stop_thread(5.0)
    assert not t.is_alive() and not o.running and o._thread is None
    o._stop_thread(5.0)  # twice: fine

    def stop_from_inside():  # must not join itself (that would raise)
        o._stop_thread(5.0)
        o.stopped_itself.set()

    o.start(stop_from_inside)  # the stop request of the first run was cleared
    assert o.stopped_itself.wait(5.0) and o._thread is None


@pytest.mark.parametrize("exc, state, message, log_line", [
    (None, DeviceState.STOPPED, "", None),
    (DeviceError("port gone"), DeviceState.ERROR, "port gone", "dev: port gone"),
    (ZeroDivisionError("division by zero"), DeviceState.ERROR, "ZeroDivisionError: division by zero",
     "dev reader crashed"),
])
def test_run_reporting_errors_sets_the_end_state_and_logs(exc, state, message, log_line, caplog):
    got = []

    def run():
        if exc is not None:
            raise exc

    log = logging.getLogger("test.worker")
    with caplog.at_level(logging.ERROR, logger="test.worker"):
        run_reporting_errors(run, DeviceError, lambda s, m: got.append((s, m)), log, "dev", bug_label="dev reader")
    assert got == [(state, message)]
    assert [r.getMessage() for r in caplog.records] == ([log_line] if log_line else [])


def test_an_emg_source_whose_reader_crashes_ends_in_error_and_finishes():
    class Crashing(EmgSource):
        kind = "crashing"
        channel_names = ["a"]
        finished = threading.Event()

        def _run(self):
            raise KeyError("bug")

        def _finish(self):
            self.finished.set()

    src = Crashing()
    src.start(lambda chunk: None)
    assert src.finished.wait(5.0)
    src.stop()
    st = src.status()
    assert st.state == DeviceState.ERROR and st.last_error == "KeyError: 'bug'"
    assert src._thread is None and not src.running
