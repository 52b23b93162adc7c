"""Export dialog: sessions -> training windows (HDF5 / NPZ), the seed project's CSV, or MP4 video
with the skeleton drawn on (optionally a pose model's predicted hand beside it).

The work is :func:`recorder.export.files.export`, run as a :class:`~app.dialogs.job_dialog.JobDialog` job with a
progress bar and Cancel. The engine writes temporary files renamed at the end; on Cancel the job
also removes any per-session file it completed earlier in the same run, so a cancelled export
leaves nothing behind.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from recorder.export.files import TARGETS, default_output, written_files
from recorder.core.units import human_size

from app.qt.errors import friendly_error
from app.dialogs.job_dialog import JobDialog
from app.qt.workers import Cancelled, Worker

log = logging.getLogger(__name__)

__all__ = ["ExportDialog", "run_export", "human_size"]

#: The formats the dialog offers (recorder.export.files.TARGETS has their names, suffixes and writers).
DIALOG_FORMATS = ("h5", "npz", "csv", "mp4")
#: (format code, label, default file suffix), from the engine's table.
FORMAT_CHOICES = tuple((TARGETS[c].name, TARGETS[c].description, TARGETS[c].extension) for c in DIALOG_FORMATS)
_SUFFIX = {code: suf for code, _, suf in FORMAT_CHOICES}


def run_export(sessions: Sequence[str | Path], out: str | Path, fmt: str, *, window_ms: float = 200.0,
               model_dir: str | None = None, options: dict | None = None, progress=None, cancel=None) -> list:
    """Worker job: :func:`recorder.export.files.export` with the worker's ``progress`` (passed through:
    the same :class:`recorder.core.types.Progress`) and cancel Event. On cancel or failure every target file that did
    not exist before the run is removed, so nothing half-done is left. Returns the ExportResults."""
    from recorder.export.files import ExportCancelled, export

    paths = [Path(s) for s in sessions]
    targets = written_files(paths, Path(out), fmt)
    new = [t for t in targets if not t.exists()]

    try:
        return export(paths, out, fmt, window_ms=window_ms, model_dir=model_dir or None, progress=progress,
                      cancel=cancel, **(options or {}))
    except ExportCancelled:
        _remove(new)
        raise Cancelled() from None
    except BaseException:  # includes the worker's Cancelled raised from progress()
        _remove(new)
        raise


def _remove(paths: list[Path]) -> None:
    for p in paths:
        try:
            p.unlink(missing_ok=True)
        except OSError as e:  # reported, not fatal: the export's own error is what the user needs
            log.warning("could not remove %s: %s", p, e)


class ExportDialog(JobDialog):
    """Choose sessions, format and options; export in a worker; show what was written.

    sessions: preselected session files (the library selection or the session open in Review).
    folder: where "Add…" starts and the default output goes (the library folder).
    Signals: ``exported(list)`` with the ExportResults after a successful run.
    """

    exported = Signal(list)

    def __init__(self, sessions: Sequence[str | Path] = (), folder: str | Path | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export sessions")
        self.folder = Path(folder) if folder else (Path(sessions[0]).parent if sessions else Path.home())
        self.results: list = []
        self._out_edited = False
        self._new_targets: list[Path] = []
        self._build()
        for s in sessions:
            self.add_session(s)
        self._on_format()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.session_list = QListWidget()
        self.session_list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.session_list.setMinimumHeight(90)
        add = QPushButton("Add…")
        add.clicked.connect(self._browse_sessions)
        rm = QPushButton("Remove")
        rm.clicked.connect(self._remove_selected)
        srow = QVBoxLayout()
        srow.addWidget(add)
        srow.addWidget(rm)
        srow.addStretch(1)
        sbox = QHBoxLayout()
        sbox.addWidget(self.session_list, 1)
        sbox.addLayout(srow)

        self._build_format_combo([(code, label) for code, label, _ in FORMAT_CHOICES], "export")
        self.window_ms = QSpinBox(minimum=20, maximum=5000, singleStep=50, value=200, suffix=" ms")
        self.window_ms.setToolTip("EMG window ending at each anchor (frame or grid point)")
        self.task_combo = QComboBox()
        for code, label in (("auto", "auto (pose when every session has hands)"), ("pose", "pose (63 targets)"),
                            ("gesture", "gesture (labels only)")):
            self.task_combo.addItem(label, code)
        self.normalise = QCheckBox("store X normalised per channel (statistics are saved either way)")
        self.split_combo = QComboBox()
        for code in ("time", "blocks", "session", "none"):
            self.split_combo.addItem(code, code)
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("optional: pose model folder (predicted hand drawn beside the recorded one)")
        self.model_button = QPushButton("…")
        self.model_button.clicked.connect(self._browse_model)
        mrow = QHBoxLayout()
        mrow.addWidget(self.model_edit, 1)
        mrow.addWidget(self.model_button)
        self.out_edit = QLineEdit()
        self.out_edit.textEdited.connect(lambda _t: setattr(self, "_out_edited", True))
        self.out_button = QPushButton("…")
        self.out_button.clicked.connect(self._browse_out)
        orow = QHBoxLayout()
        orow.addWidget(self.out_edit, 1)
        orow.addWidget(self.out_button)

        form = QFormLayout()
        form.addRow("Sessions", sbox)
        form.addRow("Format", self.format_combo)
        form.addRow("Window", self.window_ms)
        form.addRow("Task", self.task_combo)
        form.addRow("", self.normalise)
        form.addRow("Split", self.split_combo)
        self.model_row = QWidget()
        self.model_row.setLayout(mrow)
        mrow.setContentsMargins(0, 0, 0, 0)
        form.addRow("Model", self.model_row)
        form.addRow("Output", orow)
        self.form = form

        self._build_job_controls("Export", "Open folder", self.start_export)
        self.export_button, self.open_folder_button = self.run_button, self.result_button
        self.open_folder_button.clicked.connect(self.open_folder)
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.error_label)
        lay.addWidget(self.result_label)
        lay.addWidget(self.buttons)
        self.resize(640, 480)
        self._set_running(False)

    # ------------------------------------------------------------------ inputs
    def add_session(self, path: str | Path) -> None:
        p = str(Path(path))
        if p not in self.sessions_as_str():
            self.session_list.addItem(p)
        self._default_out()

    def sessions_as_str(self) -> list[str]:
        return [self.session_list.item(i).text() for i in range(self.session_list.count())]

    def sessions(self) -> list[Path]:
        return [Path(s) for s in self.sessions_as_str()]

    def set_output(self, path: str | Path) -> None:
        self.out_edit.setText(str(path))
        self._out_edited = True

    def _browse_sessions(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Session files", str(self.folder),
                                                "Session files (*.h5 *.hdf5);;All files (*)")
        for f in files:
            self.add_session(f)

    def _remove_selected(self) -> None:
        for it in self.session_list.selectedItems():
            self.session_list.takeItem(self.session_list.row(it))
        self._default_out()

    def _browse_model(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Pose model folder", self.model_edit.text() or str(self.folder))
        if d:
            self.model_edit.setText(d)

    def _browse_out(self) -> None:
        fmt = self.fmt()
        if self._out_is_folder():
            d = QFileDialog.getExistingDirectory(self, "Output folder", self.out_edit.text() or str(self.folder))
            if d:
                self.set_output(d)
            return
        f, _ = QFileDialog.getSaveFileName(self, "Export to", self.out_edit.text() or str(self.folder),
                                           f"{fmt.upper()} (*{_SUFFIX[fmt]});;All files (*)")
        if f:
            self.set_output(f)

    def _out_is_folder(self) -> bool:
        return TARGETS[self.fmt()].per_session and len(self.sessions()) > 1

    def _on_format(self, *_a) -> None:
        windows = TARGETS[self.fmt()].unit == "windows"
        for w in (self.task_combo, self.normalise, self.split_combo):
            w.setEnabled(windows)
        self.window_ms.setEnabled(windows or self.fmt() == "mp4")
        self.model_row.setEnabled(self.fmt() == "mp4")
        if self._out_edited:  # keep the user's name, with this format's suffix
            out = Path(self.out_edit.text())
            if out.suffix and not self._out_is_folder():
                self.out_edit.setText(str(out.with_suffix(_SUFFIX[self.fmt()])))
        else:
            self._default_out()

    def _default_out(self) -> None:
        """The engine's :func:`~recorder.export.files.default_output` (in :func:`~recorder.export.files.export_folder` of the first
        session's folder, not among the sessions, where Library and Train would list it)."""
        if self._out_edited:
            return
        ss = self.sessions()
        if not ss:
            self.out_edit.clear()
            return
        self.out_edit.setText(str(default_output(ss, self.fmt())))

    def options(self) -> dict:
        """The engine keyword options for the chosen format."""
        if TARGETS[self.fmt()].unit == "windows":
            return {"task": self.task_combo.currentData(), "normalise": self.normalise.isChecked(),
                    "split": self.split_combo.currentData()}
        return {}

    # ------------------------------------------------------------------ running
    def _inputs(self) -> tuple:
        return (self.session_list, self.format_combo, self.window_ms, self.task_combo, self.normalise,
                self.split_combo, self.model_row, self.out_edit, self.out_button)

    def _refresh_inputs(self) -> None:
        self._on_format()  # restores the format-dependent enabled states

    def validate(self) -> str | None:
        """A message saying what is missing, or None when the export can start."""
        ss = self.sessions()
        if not ss:
            return "Add at least one session file."
        missing = [s for s in ss if not s.is_file()]
        if missing:
            return f"Session file not found: {missing[0]}"
        if not self.out_edit.text().strip():
            return "Choose an output path."
        md = self.model_edit.text().strip()
        if self.fmt() == "mp4" and md and not Path(md).is_dir():
            return f"Model folder not found: {md}"
        return None

    def start_export(self, confirm_overwrite: bool = True) -> Worker | None:
        """Start the export job (returns its Worker), or show why it cannot start and return None."""
        if not self._can_start():
            return None
        out = Path(self.out_edit.text().strip()).expanduser()
        fmt = self.fmt()
        targets = written_files(self.sessions(), out, fmt)
        if confirm_overwrite and not self.confirm_overwrite([t for t in targets if t.exists() and t.suffix != ".json"]):
            return None
        self.results = []
        self._new_targets = [t for t in targets if not t.exists()]
        self.result_label.clear()
        model = self.model_edit.text().strip() if fmt == "mp4" else ""
        return self.run_job(run_export, self.sessions(), out, fmt, window_ms=float(self.window_ms.value()),
                            model_dir=model or None, options=self.options(),
                            status=f"Exporting {len(self.sessions())} session(s) to {out} …")

    def cancel_export(self) -> None:
        self.cancel_job()

    def _job_returned(self, results: list) -> None:
        self.results = list(results)
        self.progress.setValue(self.progress.maximum())
        lines = []
        for r in self.results:
            size = human_size(r.path.stat().st_size) if r.path.exists() else "?"
            extra = ""
            if r.manifest:
                extra = f", task {r.manifest['task']}, {r.manifest['window']['samples']} samples per window"
            lines.append(f"{r.path} — {size}, {r.items} {TARGETS[r.format].unit if r.format in TARGETS else 'items'}{extra}")
        self.result_label.setText("Wrote:\n" + "\n".join(lines))
        self.status.setText("Export finished.")
        self.open_folder_button.show()
        self.exported.emit(self.results)

    def _job_errored(self, e: BaseException) -> None:
        self.status.setText("Export failed; nothing was written.")
        self.error_label.setText(friendly_error(e, action="export"))

    def _job_aborted(self) -> None:
        # The job removes its files when it stops at a cancel check; a cancel that lands after the
        # engine returned (as the worker reports "aborted") is cleaned up here.
        _remove(self._new_targets)
        self.progress.setValue(0)
        self.status.setText("Export cancelled; nothing was written.")

    def output_folder(self) -> Path | None:
        if not self.results:
            return None
        p = self.results[0].path
        return p if p.is_dir() else p.parent

    def open_folder(self) -> QUrl | None:
        """Show the output folder in the system's file manager (a no-op offscreen). Returns its URL."""
        folder = self.output_folder()
        if folder is None:
            return None
        url = QUrl.fromLocalFile(str(folder))
        if not QDesktopServices.openUrl(url):
            self.status.setText(f"Cannot open a file manager here; the files are in {folder}")
        return url



