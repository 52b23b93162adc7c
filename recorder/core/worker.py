"""One daemon worker thread with a cooperative stop: what the camera sources, the EMG sources and the
landmark worker share (start once, ask to stop, join with a timeout, report how the thread ended)."""

from __future__ import annotations

import logging
import threading
from typing import Callable

from recorder.core.types import DeviceState


class WorkerThreadOwner:
    """Base for an object that runs one daemon worker thread at a time.

    ``_stop`` (a ``threading.Event``) asks the thread to finish; ``_thread`` is the thread from
    :meth:`_start_thread` until :meth:`_join_thread`, else None. Subclasses keep their own public
    ``start``/``stop`` and build them from the helpers below.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _refuse_second_start(self, what: str) -> None:
        """RuntimeError ``"<what> already started"`` when the thread was started and not stopped."""
        if self._thread is not None:
            raise RuntimeError(f"{what} already started")

    def _start_thread(self, target: Callable[[], None], name: str) -> None:
        """Clear the stop request and run ``target`` on a new daemon thread called ``name``."""
        self._stop.clear()
        self._thread = threading.Thread(target=target, name=name, daemon=True)
        self._thread.start()

    def _join_thread(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` s for the thread (not when called from it), then forget it."""
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        self._thread = None

    def _stop_thread(self, timeout: float | None) -> None:
        """Set the stop request, then :meth:`_join_thread`. Safe to call twice."""
        self._stop.set()
        self._join_thread(timeout)


def run_reporting_errors(run: Callable[[], None], expected: type[Exception],
                         set_state: Callable[[DeviceState, str], None], log: logging.Logger, label: str,
                         bug_label: str | None = None) -> None:
    """Run ``run`` (a worker thread's main loop), then ``set_state(DeviceState.STOPPED, "")``.

    An ``expected`` error (the device's own, with a message for the user) is logged as
    ``"<label>: <message>"`` and reported as ``set_state(DeviceState.ERROR, message)``; any other
    exception is a bug, which must still reach the user rather than vanish with the thread: logged
    with its traceback as ``"<bug_label or label> crashed"`` and reported as ``"<Type>: <message>"``.
    """
    try:
        run()
        set_state(DeviceState.STOPPED, "")
    except expected as e:
        log.error("%s: %s", label, e)
        set_state(DeviceState.ERROR, str(e))
    except Exception as e:
        log.exception("%s crashed", bug_label or label)
        set_state(DeviceState.ERROR, f"{type(e).__name__}: {e}")
