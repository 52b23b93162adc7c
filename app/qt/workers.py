"""Run long jobs off the GUI thread and hear about them through Qt signals (napari ``thread_worker`` style).

A job is a plain function. If its signature has a ``progress`` parameter it receives a callable
taking one :class:`recorder.core.types.Progress` (the engine jobs' own ``progress`` type, so an engine
function can be the job itself); if it has a ``cancel`` parameter it receives a
:class:`threading.Event` that is set when the user cancels (check it and return or raise
:class:`Cancelled`). A generator function may instead ``yield`` values: each one is emitted as
``yielded`` and cancellation is checked between yields. The job never touches widgets; the widgets
listen to the signals, which Qt delivers on the GUI thread.

    pool = WorkerPool(self)                       # owned by a widget; shut down in closeEvent
    w = pool.worker(rerun_landmarks, path, settings)
    w.signals.progress.connect(lambda p: show_progress(bar, p)); w.signals.returned.connect(done)
    w.signals.errored.connect(show_error); cancel_button.clicked.connect(w.cancel)
    w.start()                                     # connect first: a signal emitted before is lost
    w = pool.start(fn, *args)                     # or: queued at the next event-loop turn, so
    w.signals.returned.connect(done)              #     connecting right after start() is safe too

Signals, in order: ``started``; any number of ``progress``/``yielded``; exactly one of ``returned``
(the function's result), ``errored`` (the exception) or ``aborted`` (cancelled); then ``finished``.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

# Raised by a job (or by ``progress`` once cancel is set) to stop early; reported as ``aborted``.
# The engine's one cancel type, so an engine job's own cancellation (e.g. ExportCancelled) is one too.
from recorder.core.errors import Cancelled
from recorder.core.types import Progress

log = logging.getLogger(__name__)

__all__ = ["BAR_STEPS", "Cancelled", "Progress", "Worker", "WorkerSignals", "WorkerPool", "show_progress"]

#: A determinate progress bar's range: 0..BAR_STEPS, whatever the job's unit.
BAR_STEPS = 1000


def show_progress(bar, p: Progress) -> None:
    """Show ``p`` on a QProgressBar (GUI thread): a busy bar when its total is unknown, else
    0..:data:`BAR_STEPS` at its fraction (the bar's ``%p%`` text is the same for any unit)."""
    f = p.fraction
    if f is None:
        bar.setRange(0, 0)
    else:
        bar.setRange(0, BAR_STEPS)
        bar.setValue(int(round(f * BAR_STEPS)))


class WorkerSignals(QObject):
    started = Signal()
    progress = Signal(object)  # a recorder.core.types.Progress
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)  # the exception instance (with __traceback__)
    aborted = Signal()
    finished = Signal()


class Worker(QRunnable):
    """One job for a :class:`QThreadPool`. Create on the GUI thread (so the signals live there).

    progress_interval_s: progress reports closer together than this are dropped (the last one,
    done >= total, always goes through) so a fast loop cannot flood the GUI event queue.
    """

    def __init__(self, fn: Callable[..., Any], *args, progress_interval_s: float = 0.05, **kwargs):
        super().__init__()
        self.setAutoDelete(False)  # Python owns it; the pool must not delete it under us
        self.fn, self.args, self.kwargs = fn, args, dict(kwargs)
        self.signals = WorkerSignals()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._running = False
        self._interval = progress_interval_s
        self._last_progress = 0.0
        params = inspect.signature(fn).parameters
        if "progress" in params:
            self.kwargs.setdefault("progress", self._progress)
        if "cancel" in params:
            self.kwargs.setdefault("cancel", self._cancel)
        self.result: Any = None
        self.error: BaseException | None = None
        self.pool: "WorkerPool | None" = None

    def start(self) -> "Worker":
        """Queue the job on its pool (see :meth:`WorkerPool.worker`). Connect to ``signals`` before:
        a cross-thread signal emitted with nothing connected is dropped."""
        if self.pool is None:
            raise RuntimeError("Worker.start(): create it with WorkerPool.worker(...)")
        self.pool.submit(self)
        return self

    # -- control (any thread)
    def cancel(self) -> None:
        """Ask the job to stop; it stops at its next check of ``cancel`` or ``progress``."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the job has finished (signals may still be queued); True if it has."""
        return self._done.wait(timeout_s)

    # -- in the worker thread
    def _progress(self, p: Progress) -> None:
        if not isinstance(p, Progress):
            raise TypeError(f"a job's progress takes a recorder.core.types.Progress, got {p!r}")
        if self._cancel.is_set():
            raise Cancelled()
        now = time.monotonic()
        last = p.total is not None and p.done >= p.total
        if last or now - self._last_progress >= self._interval:
            self._last_progress = now
            self.signals.progress.emit(p)

    def run(self) -> None:  # noqa: D401 - QRunnable API
        self._running = True
        sig = self.signals
        try:
            sig.started.emit()
            if self._cancel.is_set():
                raise Cancelled()
            out = self.fn(*self.args, **self.kwargs)
            if inspect.isgenerator(out):
                for item in out:
                    sig.yielded.emit(item)
                    if self._cancel.is_set():
                        out.close()
                        raise Cancelled()
                out = None
            if self._cancel.is_set():
                raise Cancelled()
            self.result = out
            sig.returned.emit(out)
        except Cancelled:
            sig.aborted.emit()
        except Exception as e:  # reported to the GUI as a signal, never swallowed
            log.debug("worker %s failed", getattr(self.fn, "__name__", self.fn), exc_info=True)
            self.error = e
            sig.errored.emit(e)
        finally:
            self._running = False
            self._done.set()
            sig.finished.emit()


class WorkerPool(QObject):
    """A private thread pool that remembers its workers, so a widget can cancel and join them on close.

    max_threads: concurrent jobs (default 1: jobs on one session file must not overlap).
    """

    def __init__(self, parent: QObject | None = None, max_threads: int = 1):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._pool.setExpiryTimeout(1000)
        self._workers: list[Worker] = []
        self._pending: list[Worker] = []  # started with start(), queued at the next event-loop turn

    def start(self, fn: Callable[..., Any], *args, **kwargs) -> Worker:
        """Create a :class:`Worker` for fn(*args, **kwargs) and queue it when control returns to
        the event loop, so connections made right after this call (same GUI-thread code) are in
        place before the job can emit anything."""
        w = self.worker(fn, *args, **kwargs)
        self._pending.append(w)
        QTimer.singleShot(0, self, lambda w=w: self._submit_pending(w))
        return w

    def _submit_pending(self, w: Worker) -> None:
        if w in self._pending:  # not dropped by shutdown() meanwhile
            self._pending.remove(w)
            self.submit(w)

    def worker(self, fn: Callable[..., Any], *args, **kwargs) -> Worker:
        """A :class:`Worker` for fn(*args, **kwargs) bound to this pool, not started yet: connect
        to its signals, then call ``start()``."""
        w = Worker(fn, *args, **kwargs)
        w.pool = self
        return w

    def submit(self, worker: Worker) -> Worker:
        """Queue a worker (created and connected by the caller)."""
        self._workers = [x for x in self._workers if not x.done]
        self._workers.append(worker)
        self._pool.start(worker)
        return worker

    @property
    def busy(self) -> bool:
        return bool(self._pending) or any(not w.done for w in self._workers)

    def active_threads(self) -> int:
        return self._pool.activeThreadCount()

    def cancel_all(self) -> None:
        for w in self._workers + self._pending:
            w.cancel()

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Cancel every job, wait for them, and let the pool's idle threads exit. True when all done."""
        self.cancel_all()
        pending, self._pending = self._pending, []
        for w in self._workers + pending:
            if not w.done and (w in pending or self._pool.tryTake(w)):  # never ran: report it as aborted
                w._done.set()
                w.signals.aborted.emit()
                w.signals.finished.emit()
        ok = self._pool.waitForDone(int(timeout_s * 1000))
        self._workers = [w for w in self._workers if not w.done]
        return ok
