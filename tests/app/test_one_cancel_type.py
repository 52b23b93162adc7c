"""One cancel type: an engine job's own cancellation (ExportCancelled) stops a GUI worker as
cancelled (``aborted``), not as an error, with no translation by the caller."""
import threading

from app.qt.workers import Cancelled, WorkerPool
from recorder.core.errors import Cancelled as EngineCancelled
from recorder.core.errors import EmgrecError
from recorder.export.files import ExportCancelled


def test_the_gui_and_the_engine_share_the_cancel_type():
    assert Cancelled is EngineCancelled
    assert issubclass(ExportCancelled, Cancelled) and issubclass(ExportCancelled, RuntimeError)
    assert not issubclass(Cancelled, EmgrecError)


def test_an_engine_cancellation_is_reported_as_aborted(qtbot):
    pool = WorkerPool()
    started = threading.Event()

    def export_job(cancel):
        started.set()
        cancel.wait(10)
        raise ExportCancelled("export cancelled (writing windows)")

    w = pool.worker(export_job)
    errors = []
    w.signals.errored.connect(errors.append)
    w.start()
    assert started.wait(5)
    with qtbot.waitSignal(w.signals.aborted, timeout=5000):
        w.cancel()
    assert errors == []
    assert pool.shutdown(5)
