"""Base for dialogs that run one engine job in a worker: a run button, Cancel, Close, a progress bar,
a status line and an error line, with the inputs locked while the job runs.

The export and import dialogs build their own forms and pass their job function to
:meth:`JobDialog.run_job`; everything about the worker (start it off the GUI thread, the bar, cancel,
errors, joining it when the dialog closes) lives here once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QLabel, QMessageBox, QProgressBar, QPushButton,
                               QWidget)

from app.qt.errors import friendly_error
from app.qt.workers import BAR_STEPS, Progress, Worker, WorkerPool, show_progress

__all__ = ["JobDialog"]


class JobDialog(QDialog):
    """A dialog with one worker job at a time (a one-thread :class:`~app.qt.workers.WorkerPool`).

    Subclasses call :meth:`_build_job_controls` in their layout code, list their input widgets in
    :meth:`_inputs`, and override :meth:`_job_returned`, :meth:`_job_errored` and
    :meth:`_job_aborted`. Widgets made here: ``progress``, ``status``, ``error_label``, ``buttons``,
    ``run_button``, ``result_button`` (hidden until a result), ``cancel_button``, ``close_button``.
    """

    #: how long closing the dialog waits for a cancelled job to finish, seconds
    shutdown_timeout_s = 10.0
    #: status line while a cancelled job winds down
    cancel_text = "Cancelling …"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pool = WorkerPool(self, max_threads=1)
        self.worker: Worker | None = None
        self.last_error: BaseException | None = None

    # ------------------------------------------------------------------ format choice
    def _build_format_combo(self, choices: Sequence[tuple[str, str]], kind: str) -> QComboBox:
        """``format_combo`` of (code, label) choices, wired to ``self._on_format``; ``kind`` names
        the formats in errors ("export", "import")."""
        self._format_kind = kind
        self.format_combo = QComboBox()
        for code, label in choices:
            self.format_combo.addItem(label, code)
        self.format_combo.currentIndexChanged.connect(self._on_format)
        return self.format_combo

    def fmt(self) -> str:
        """The chosen format's code."""
        return self.format_combo.currentData()

    def set_format(self, code: str) -> None:
        i = self.format_combo.findData(code)
        if i < 0:
            raise ValueError(f"unknown {self._format_kind} format {code!r}")
        self.format_combo.setCurrentIndex(i)

    # ------------------------------------------------------------------ layout
    def _build_job_controls(self, run_text: str, result_text: str, start: Callable[[], object]) -> None:
        """Make the job widgets; ``start()`` runs when the run button is clicked."""
        self.progress = QProgressBar(minimum=0, maximum=BAR_STEPS, value=0)
        self.progress.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #ff5d5d;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.buttons = QDialogButtonBox()
        self.run_button: QPushButton = self.buttons.addButton(run_text, QDialogButtonBox.ButtonRole.AcceptRole)
        self.result_button: QPushButton = self.buttons.addButton(result_text, QDialogButtonBox.ButtonRole.ActionRole)
        self.result_button.hide()
        self.cancel_button = self.buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.RejectRole)
        self.close_button = self.buttons.addButton("Close", QDialogButtonBox.ButtonRole.DestructiveRole)
        # Explicit connections: the box's accepted/rejected would close the dialog.
        self.cancel_button.clicked.connect(self.cancel_job)
        # Not connect(start): Qt would pass the button's checked=False as start's first argument
        # (confirm_overwrite=False: replacing files without asking).
        self.run_button.clicked.connect(lambda: start())
        self.close_button.clicked.connect(self.reject)

    def _inputs(self) -> Sequence[QWidget]:
        """The widgets locked while a job runs."""
        return ()

    def _refresh_inputs(self) -> None:
        """Restore input states that depend on other inputs (called when a job ends)."""

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.close_button.setEnabled(not running)
        for w in self._inputs():
            w.setEnabled(not running)
        if running:
            self.progress.show()
        else:
            if self.progress.maximum() == 0:  # a busy bar means nothing once the job is over
                self.progress.hide()
            self._refresh_inputs()

    # ------------------------------------------------------------------ running
    def validate(self) -> str | None:
        """Why the inputs cannot run (a message for the user), or None if they can."""
        return None

    def _can_start(self) -> bool:
        """False, with the reason shown, while a job runs or the inputs do not validate."""
        if self.job_running:
            return False
        problem = self.validate()
        if problem:
            self.error_label.setText(problem)
            return False
        return True

    def confirm_overwrite(self, existing: Sequence[Path]) -> bool:
        """Ask before replacing files; True when there are none or the user says yes."""
        if not existing:
            return True
        names = ", ".join(str(p) for p in existing[:3]) + (" …" if len(existing) > 3 else "")
        return QMessageBox.question(self, "Overwrite?", f"Overwrite {names}?") == QMessageBox.StandardButton.Yes

    def run_job(self, fn: Callable, *args, status: str, determinate: bool = True, **kwargs) -> Worker | None:
        """Start ``fn(*args, **kwargs)`` in the pool (see :mod:`app.qt.workers` for its ``progress`` and
        ``cancel`` parameters) and return its Worker, or None while another job is still running.
        determinate: False for jobs that report no progress (a busy bar)."""
        if self.job_running:
            return None
        self.last_error = None
        self.error_label.clear()
        self.result_button.hide()
        self.progress.setRange(0, BAR_STEPS if determinate else 0)
        self.progress.setValue(0)
        self.status.setText(status)
        w = self.pool.start(fn, *args, **kwargs)
        self.worker = w
        w.signals.progress.connect(self._on_progress)
        w.signals.returned.connect(self._job_returned)
        w.signals.errored.connect(self._on_errored)
        w.signals.aborted.connect(self._job_aborted)
        w.signals.finished.connect(lambda: self._set_running(False))
        self._set_running(True)
        return w

    @property
    def job_running(self) -> bool:
        return self.worker is not None and not self.worker.done

    def cancel_job(self) -> None:
        """Cancel the running job (it stops at its next check), or close the dialog when idle."""
        if self.job_running:
            self.worker.cancel()
            self.status.setText(self.cancel_text)
        else:
            self.reject()

    def _on_progress(self, p: Progress) -> None:
        show_progress(self.progress, p)
        if p.text:
            self.status.setText(p.text)

    def _on_errored(self, e: BaseException) -> None:
        self.last_error = e
        self._job_errored(e)

    def _job_returned(self, result) -> None:
        """The job's result, on the GUI thread."""

    def _job_errored(self, e: BaseException) -> None:
        self.error_label.setText(friendly_error(e))

    def _job_aborted(self) -> None:
        self.status.setText("Cancelled.")

    # ---------------------------------------------------------------- lifecycle
    def shutdown(self) -> None:
        """Cancel a running job and wait for its worker (the job cleans up its own partial files)."""
        self.pool.shutdown(timeout_s=self.shutdown_timeout_s)

    def done(self, r: int) -> None:  # noqa: D401 - QDialog API: accept/reject/close all end here
        self.shutdown()
        super().done(r)

    def closeEvent(self, ev) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(ev)

