"""Session library: a sortable table of the session files in a folder, scanned off the GUI thread,
with Open, Rename, Delete (confirmed), Repair (a crashed session, confirmed, in a worker), Refresh and a
folder chooser. Unreadable files are listed with their error; a file being recorded shows "recording"."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QInputDialog, QLabel,
                               QLineEdit, QMessageBox, QProgressBar, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from recorder.core.units import human_size
from recorder.session.library import SessionInfo, delete_session, rename_session, scan, summarize

from app.qt.workers import Progress, Worker, WorkerPool, show_progress

log = logging.getLogger(__name__)

__all__ = ["LibraryView"]

COLUMNS = ("Name", "Date", "Duration", "Subject", "Labels", "Hand", "Size", "Status")
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_PATH_ROLE = Qt.ItemDataRole.UserRole


def _fmt_duration(s: float) -> str:
    if not math.isfinite(s):
        return "—"
    m, sec = divmod(int(round(s)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class _Item(QTableWidgetItem):
    """A cell that sorts by a key (numbers numerically) rather than by its text."""

    def __init__(self, text: str, key=None):
        super().__init__(text)
        self.setData(_SORT_ROLE, text.lower() if key is None else key)
        self.setFlags(self.flags() & ~Qt.ItemFlag.ItemIsEditable)

    def __lt__(self, other):
        a, b = self.data(_SORT_ROLE), other.data(_SORT_ROLE)
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


def not_a_session(info: SessionInfo) -> bool:
    """A readable HDF5 file of another kind (an export's training windows): not listed as a
    session, nor as "unreadable"."""
    return "not an emgrec session" in (info.error or "")


def _status_text(i: SessionInfo) -> str:
    """The Status cell: the error, "recording" (a writer holds it), "crashed" (repairable) or ok."""
    if i.error:
        return i.error
    if i.recording:
        return "recording"
    if i.repairable:
        return "not closed (crashed): Repair… it"
    return "ok" if i.complete else "incomplete (recovered on save)"


class LibraryView(QWidget):
    """Lists the session files of a folder. ``open_requested(path)`` asks the app to open one in the
    review view; ``scan_finished()`` follows every (re)scan."""

    open_requested = Signal(str)
    import_requested = Signal()  # "Import…": the main window opens the import dialog
    export_requested = Signal(list)  # "Export…": the selected session paths (str)
    scan_finished = Signal()
    message = Signal(str)

    def __init__(self, folder=None, parent=None):
        super().__init__(parent)
        self.folder: Path | None = None
        self.infos: list[SessionInfo] = []
        self.pool = WorkerPool(self, max_threads=1)
        self._closed = False  # shut down (window closing): no new scans
        self.scan_worker: Worker | None = None
        # Its own pool: a repair must not wait behind (or be cancelled with) a folder rescan.
        self.repair_pool = WorkerPool(self, max_threads=1)
        self.repair_worker: Worker | None = None
        self._build()
        if folder is not None:
            self.set_folder(folder)

    def _build(self) -> None:
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("folder with session files (.h5)")
        self.folder_edit.returnPressed.connect(lambda: self.set_folder(self.folder_edit.text()))
        self.choose_button = QPushButton("Folder…")
        self.choose_button.clicked.connect(lambda *_: self.choose_folder())
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(lambda *_: self.refresh())
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(lambda *_: self.open_selected())
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(lambda *_: self.rename_selected())
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(lambda *_: self.delete_selected())
        self.repair_button = QPushButton("Repair…")
        self.repair_button.setToolTip("Finalise a session whose recorder died (emgrec repair), in place")
        self.repair_button.clicked.connect(lambda *_: self.repair_selected())
        self.import_button = QPushButton("Import…")
        self.import_button.clicked.connect(self.import_requested.emit)
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(
            lambda: self.export_requested.emit([str(p)] if (p := self.selected_path()) else []))
        top = QHBoxLayout()
        top.addWidget(QLabel("Folder"))
        top.addWidget(self.folder_edit, 1)
        for b in (self.choose_button, self.refresh_button):
            top.addWidget(b)
        top.addSpacing(16)
        for b in (self.open_button, self.rename_button, self.delete_button, self.repair_button):
            top.addWidget(b)
        top.addSpacing(16)
        for b in (self.import_button, self.export_button):
            top.addWidget(b)

        t = self.table = QTableWidget(0, len(COLUMNS))
        t.setHorizontalHeaderLabels(COLUMNS)
        t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        t.setAlternatingRowColors(True)
        t.verticalHeader().hide()
        t.setSortingEnabled(True)
        h = t.horizontalHeader()
        for c in range(len(COLUMNS)):
            h.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(COLUMNS.index("Labels"), QHeaderView.ResizeMode.Stretch)
        t.doubleClicked.connect(lambda *_: self.open_selected())
        t.itemSelectionChanged.connect(self._update_buttons)
        QShortcut(QKeySequence(Qt.Key.Key_Return), t, activated=self.open_selected)
        QShortcut(QKeySequence.StandardKey.Delete, t, activated=self.delete_selected)

        self.status = QLabel("No folder yet: record a session in the Capture tab (its folder then shows here), "
                             "or choose a folder / Import… a file.")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(200)
        self.progress.hide()
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.progress)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(t, 1)
        lay.addLayout(bottom)
        self._update_buttons()

    # ------------------------------------------------------------ scanning
    def choose_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Session folder", str(self.folder or Path.home()))
        if d:
            self.set_folder(d)

    def set_folder(self, folder) -> None:
        self.folder = Path(folder).expanduser()
        self.folder_edit.setText(str(self.folder))
        self.refresh()

    def refresh(self) -> Worker | None:
        """Rescan the folder in a worker (a scan still running is cancelled first). None when there
        is no folder, or after :meth:`shutdown` (a recording saved while the window closes must not
        start a scan that outlives it)."""
        if self.folder is None or self._closed:
            return None
        if self.scan_worker is not None and not self.scan_worker.done:
            self.scan_worker.cancel()
        w = self.pool.worker(scan, self.folder)
        self.scan_worker = w
        w.signals.progress.connect(self._scan_progress)
        w.signals.returned.connect(lambda infos, w=w: self._scan_done(w, infos))
        w.signals.errored.connect(lambda e, w=w: self._scan_failed(w, e))
        w.signals.finished.connect(lambda w=w: self._scan_finished(w))
        w.start()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(f"Scanning {self.folder} …")
        return w

    def _scan_progress(self, p: Progress) -> None:
        show_progress(self.progress, p)

    def _scan_done(self, w: Worker, infos: list[SessionInfo]) -> None:
        if w is not self.scan_worker or w.cancelled:
            return  # superseded by a newer scan
        other = [i for i in infos if not_a_session(i)]
        infos = [i for i in infos if not not_a_session(i)]
        self.infos = infos
        self._fill()
        bad = sum(1 for i in infos if not i.ok)
        total_s = sum(i.duration_s for i in infos if i.ok and math.isfinite(i.duration_s))
        if not infos and not other:
            self.status.setText("No sessions in this folder yet: record one in the Capture tab, or Import… a file.")
            return
        self.status.setText(f"{len(infos)} session file(s), {_fmt_duration(total_s)} recorded"
                            + (f", {bad} unreadable" if bad else "")
                            + (f"; {len(other)} other HDF5 file(s) (exports) not listed" if other else ""))

    def _scan_failed(self, w: Worker, e: BaseException) -> None:
        if w is not self.scan_worker:
            return
        self.infos = []
        self._fill()
        self.status.setText(f"Cannot scan: {e}")

    def _scan_finished(self, w: Worker) -> None:
        if w is self.scan_worker:
            self.progress.hide()
            self.scan_finished.emit()

    def _fill(self) -> None:
        t = self.table
        selected = self.selected_path()
        t.setSortingEnabled(False)
        t.setRowCount(0)
        t.setRowCount(len(self.infos))
        for row, i in enumerate(self.infos):
            cov = i.hand_coverage
            cells = [
                _Item(i.name),
                _Item(i.date, i.created_utc or str(i.modified)),
                _Item(_fmt_duration(i.duration_s), i.duration_s if math.isfinite(i.duration_s) else -1.0),
                _Item(i.subject),
                _Item(f"{i.n_labels}: {i.label_summary()}" if i.n_labels else ("" if i.error else "0"),
                      i.n_labels),
                _Item("—" if not math.isfinite(cov) else f"{cov * 100:.0f} %",
                      cov if math.isfinite(cov) else -1.0),
                _Item(human_size(i.size_bytes), i.size_bytes),
                _Item(_status_text(i)),
            ]
            for col, it in enumerate(cells):
                it.setData(_PATH_ROLE, str(i.path))
                if i.error:
                    it.setForeground(QColor("#b00020"))
                    it.setToolTip(i.error)
                t.setItem(row, col, it)
        t.setSortingEnabled(True)
        if selected is not None:
            self.select_path(selected)
        self._update_buttons()

    # ------------------------------------------------------------ selection
    def selected_path(self) -> Path | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        it = self.table.item(rows[0].row(), 0)
        return Path(it.data(_PATH_ROLE)) if it is not None else None

    def select_path(self, path) -> bool:
        path = str(Path(path))
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(_PATH_ROLE) == path:
                self.table.selectRow(row)
                return True
        return False

    def info_for(self, path) -> SessionInfo | None:
        path = Path(path)
        return next((i for i in self.infos if i.path == path), None)

    def _update_buttons(self) -> None:
        p = self.selected_path()
        info = self.info_for(p) if p else None
        self.open_button.setEnabled(info is not None and info.ok)
        self.rename_button.setEnabled(p is not None)
        self.delete_button.setEnabled(p is not None)
        self.export_button.setEnabled(info is not None and info.ok)
        self.repair_button.setEnabled(info is not None and info.ok and info.repairable and not info.recording
                                      and not self.repair_running)

    # -------------------------------------------------------------- actions
    def open_selected(self) -> None:
        p = self.selected_path()
        info = self.info_for(p) if p else None
        if info is None:
            return
        if not info.ok:
            QMessageBox.warning(self, "Cannot open session", f"{p.name}: {info.error}")
            return
        self.open_requested.emit(str(p))

    def rename_selected(self, new_name: str | None = None) -> Path | None:
        p = self.selected_path()
        if p is None:
            return None
        if new_name is None:
            new_name, ok = QInputDialog.getText(self, "Rename session", "New file name:", text=p.stem)
            if not ok:
                return None
        try:
            dst = rename_session(p, new_name)
        except (OSError, ValueError) as e:
            QMessageBox.warning(self, "Cannot rename", str(e))
            return None
        self.message.emit(f"Renamed {p.name} to {dst.name}")
        self._replace_path(p, dst)
        return dst

    def delete_selected(self) -> bool:
        p = self.selected_path()
        if p is None:
            return False
        b = QMessageBox.question(self, "Delete session",
                                 f"Delete {p.name} permanently?\nThis cannot be undone.",
                                 QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                 QMessageBox.StandardButton.No)
        if b != QMessageBox.StandardButton.Yes:
            return False
        try:
            delete_session(p)
        except (OSError, ValueError) as e:
            QMessageBox.warning(self, "Cannot delete", str(e))
            return False
        self.message.emit(f"Deleted {p.name}")
        self.infos = [i for i in self.infos if i.path != p]
        self._fill()
        return True

    @property
    def repair_running(self) -> bool:
        return self.repair_worker is not None and not self.repair_worker.done

    def repair_selected(self) -> Worker | None:
        """Ask, then run :func:`recorder.session.format.repair` on the selected crashed session in a worker;
        the result (or error) is shown in a message box and the row is summarised again."""
        p = self.selected_path()
        info = self.info_for(p) if p else None
        if info is None or self.repair_running:
            return None
        if info.recording or not info.repairable:
            why = "it is being recorded" if info.recording else "it was closed normally"
            QMessageBox.information(self, "Nothing to repair", f"{p.name}: not repaired, {why}.")
            return None
        b = QMessageBox.question(
            self, "Repair session",
            f"{p.name} was not closed (its recorder died).\n\nRepair it in place? Its readable data are "
            f"copied into a new file, checked, and the new file then replaces {p.name}.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if b != QMessageBox.StandardButton.Yes:
            return None

        def job(path=p):
            from recorder.session.format import repair  # h5py only when used (the app's start-up)
            # summarize() reads the repaired file here too, so the GUI thread never opens it.
            return repair(path), summarize(path)

        w = self.repair_worker = self.repair_pool.worker(job)
        w.signals.returned.connect(lambda res, p=p: self._repair_done(p, *res))
        w.signals.errored.connect(lambda e, p=p: self._repair_failed(p, e))
        w.signals.finished.connect(self._repair_finished)
        w.start()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(f"Repairing {p.name} …")
        self._update_buttons()
        return w

    def _repair_done(self, p: Path, r: dict, info: SessionInfo) -> None:
        self.infos = [info if i.path == p else i for i in self.infos]
        self._fill()
        what = {"recovered": "repaired", "none": "closed normally, nothing to repair",
                "rewritten": "rewritten"}.get(r["action"], r["action"])
        text = (f"{p.name}: {what}; {_fmt_duration(r['duration_s'])}, {r['samples']} samples, "
                f"{r['frames']} frames.")
        self.status.setText(text)
        self.message.emit(text)
        QMessageBox.information(self, "Session repaired", text)

    def _repair_failed(self, p: Path, e: BaseException) -> None:
        self.status.setText(f"Cannot repair {p.name}: {e}")
        QMessageBox.warning(self, "Cannot repair", f"{p.name}: {e}")

    def _repair_finished(self) -> None:
        if self.scan_worker is None or self.scan_worker.done:
            self.progress.hide()
        self._update_buttons()

    def _replace_path(self, old: Path, new: Path) -> None:
        for i in self.infos:
            if i.path == old:
                i.path = new
        self._fill()
        self.select_path(new)

    # ------------------------------------------------------------ lifecycle
    def shutdown(self) -> None:
        """Cancel and join a running scan, and wait for a running repair (call before the widget goes
        away; a repair is not cancellable: it ends with the verified file or the original)."""
        self._closed = True
        self.pool.shutdown()
        self.repair_pool.shutdown(timeout_s=120.0)

    def closeEvent(self, ev):
        self.shutdown()
        super().closeEvent(ev)
