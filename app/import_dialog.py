"""Import dialog: EMG text files (myo-readings, Neurotron, any CSV with a column mapping) into a
session file in the library folder.

The work is :mod:`recorder.importers`, run as a :class:`~app.job_dialog.JobDialog` job. The importers
have no progress or cancel hooks, so the bar is indeterminate and Cancel takes effect when the
importer returns: the job imports into a hidden temporary file and only renames it to the chosen
name when not cancelled, so a cancelled or failed import leaves nothing (and never replaces an
existing file). :class:`~recorder.importers.ImportFormatError` messages name the file and line.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import uuid
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPlainTextEdit, QPushButton, QVBoxLayout)

from . import job_dialog
from .job_dialog import JobDialog
from .workers import Cancelled, Worker

log = logging.getLogger(__name__)

__all__ = ["ImportDialog", "run_import", "guess_format", "preview_lines"]

FORMATS = (("myo-readings", "myo-readings (e1..e8,label per line; a k.txt or a folder of 0.txt..7.txt)"),
           ("neurotron", "Neurotron (Myo 50 Hz CSV with Unix-second times)"),
           ("csv", "Generic CSV (map the columns below)"),
           ("paired", "EMG file + pose file, each with its own clock (aligned; see docs/import.md)"))
DELIMITERS = ((",", "comma ,"), (";", "semicolon ;"), ("\t", "tab"), ("|", "bar |"))
PREVIEW_LINES = 20


def _first_file(src: Path) -> Path | None:
    """The file to preview: src itself, or a myo-readings folder's first ``k.txt`` (or first file)."""
    if src.is_file():
        return src
    if src.is_dir():
        numbered = sorted((p for p in src.iterdir() if re.fullmatch(r"\d+\.txt", p.name)), key=lambda p: int(p.stem))
        if numbered:
            return numbered[0]
        files = sorted(p for p in src.iterdir() if p.is_file())
        return files[0] if files else None
    return None


def preview_lines(src: str | Path, n: int = PREVIEW_LINES) -> list[str]:
    """The first ``n`` lines of the file (or of a folder's first file); [] when unreadable."""
    f = _first_file(Path(src))
    if f is None:
        return []
    out = []
    try:
        with open(f, encoding="utf-8-sig", errors="replace", newline="") as fh:
            for line in fh:
                out.append(line.rstrip("\r\n"))
                if len(out) >= n:
                    break
    except OSError as e:
        log.info("no preview of %s: %s", f, e)
        return []
    return out


def guess_format(src: str | Path) -> str:
    """'myo-readings', 'neurotron' or 'csv' from the layout of the first line."""
    src = Path(src)
    f = _first_file(src)
    if src.is_dir():
        return "myo-readings" if f is not None and re.fullmatch(r"\d+\.txt", f.name) else "csv"
    lines = [ln for ln in preview_lines(src, 3) if ln.strip()]
    if not lines:
        return "csv"
    fields = [x.strip() for x in lines[0].split(",")]
    if len(fields) == 9:
        if [x.lower() for x in fields[:8]] == [f"ch{i + 1}" for i in range(8)] and fields[8].lower() in (
                "ts", "t", "time", "timestamp"):
            return "neurotron"
        try:
            vals = [float(x) for x in fields]
        except ValueError:
            return "csv"
        if sum(v > 1e8 for v in vals) == 1:
            return "neurotron"
        if all(v.is_integer() and -128 <= v <= 127 for v in vals[:8]) and vals[8].is_integer():
            return "myo-readings"
    return "csv"


def unique_path(path: Path) -> Path:
    """``path``, or ``stem_2.h5``, ``stem_3.h5`` … if it exists."""
    if not path.exists():
        return path
    k = 2
    while path.with_name(f"{path.stem}_{k}{path.suffix}").exists():
        k += 1
    return path.with_name(f"{path.stem}_{k}{path.suffix}")


def run_import(fmt: str, src: str | Path, dst: str | Path, options: dict | None = None, cancel=None) -> dict:
    """Worker job: import ``src`` in format ``fmt`` to the session file ``dst`` and return
    ``{"path": Path, "summary": SessionReader.summary()}``. Writes a hidden temporary file in dst's
    folder and renames it at the end unless ``cancel`` (threading.Event) was set meanwhile."""
    from recorder import importers
    from recorder.session import SessionReader

    src, dst = Path(src), Path(dst)
    opts = dict(options or {})
    fn = {"myo-readings": importers.import_myo_readings, "neurotron": importers.import_neurotron,
          "csv": importers.import_csv, "paired": _import_paired}.get(fmt)
    if fn is None:
        raise ValueError(f"unknown import format {fmt!r}")
    # Not .h5, and hidden: the library scan must not list it while it is being written.
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.importing")
    try:
        fn(src, tmp, **opts)
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    with SessionReader(dst) as r:
        summary = r.summary()
    return {"path": dst, "summary": summary}


def _import_paired(src, dst, pose_file, **opts):
    from recorder.pose_import import import_paired
    return import_paired(src, pose_file, dst, **opts)[0]


def friendly_error(e: BaseException, fmt: str) -> str:
    """One clear sentence for an import failure; a format error names the file and line."""
    from recorder.importers import ImportFormatError

    if isinstance(e, ImportFormatError):
        return f"Not a valid {fmt} file — {e}"
    return job_dialog.friendly_error(e, noun="Import", verb="import", writing="the session")


class ImportDialog(JobDialog):
    """Pick a source and format, map CSV columns, preview, import in a worker.

    folder: the library folder (default output folder). source: optional file/folder to start with.
    Signals: ``imported(str)`` the new session path after success; ``open_requested(str)`` when the
    user asks to open it in Review.
    """

    imported = Signal(str)
    open_requested = Signal(str)
    shutdown_timeout_s = 60.0  # an importer cannot stop mid-file; a large file takes a while
    cancel_text = "Cancelling (the file being read is finished first, then discarded) …"

    def __init__(self, folder: str | Path | None = None, source: str | Path | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Import EMG")
        self.folder = Path(folder).expanduser() if folder else Path.home()
        self.last_result: dict | None = None
        self._out_edited = False
        self._build()
        if source is not None:
            self.set_source(source)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.src_edit = QLineEdit()
        self.src_edit.setPlaceholderText("a CSV/text file, or a myo-readings session folder")
        self.src_edit.editingFinished.connect(lambda: self.set_source(self.src_edit.text()))
        file_b = QPushButton("File…")
        file_b.clicked.connect(self._browse_file)
        dir_b = QPushButton("Folder…")
        dir_b.clicked.connect(self._browse_folder)
        srow = QHBoxLayout()
        srow.addWidget(self.src_edit, 1)
        srow.addWidget(file_b)
        srow.addWidget(dir_b)

        self._build_format_combo(FORMATS, "import")

        # Generic CSV column mapping (the importer's import_csv arguments).
        self.emg_columns = QLineEdit("0-7")
        self.emg_columns.setToolTip("0-based column numbers or header names: 0-7, or ch1,ch2,ch3")
        self.time_column = QLineEdit()
        self.time_column.setPlaceholderText("none: samples evenly spaced at the sample rate")
        self.time_unit = QComboBox()
        for u in ("s", "ms", "us", "ns"):
            self.time_unit.addItem(u, u)
        trow = QHBoxLayout()
        trow.addWidget(self.time_column, 1)
        trow.addWidget(QLabel("unit"))
        trow.addWidget(self.time_unit)
        self.label_column = QLineEdit()
        self.label_column.setPlaceholderText("none")
        self.delimiter = QComboBox()
        for d, label in DELIMITERS:
            self.delimiter.addItem(label, d)
        self.delimiter.currentIndexChanged.connect(self._update_columns_hint)
        self.header = QComboBox()
        for v, label in ((None, "detect"), (True, "first line is a header"), (False, "no header")):
            self.header.addItem(label, v)
        self.rate = QDoubleSpinBox(minimum=0.0, maximum=100000.0, decimals=3, value=200.0, suffix=" Hz")
        self.rate.setSpecialValueText("measure from the time column")
        self.rate.setToolTip("Nominal sample rate; 0 measures it from the time column")
        self.time_column.textChanged.connect(self._on_time_column)
        self.units = QLineEdit("counts")
        self.csv_box = QGroupBox("CSV columns")
        cf = QFormLayout(self.csv_box)
        cf.addRow("EMG columns", self.emg_columns)
        cf.addRow("Time column", trow)
        cf.addRow("Label column", self.label_column)
        cf.addRow("Delimiter", self.delimiter)
        cf.addRow("Header", self.header)
        cf.addRow("Sample rate", self.rate)
        cf.addRow("Units", self.units)

        self.subject = QLineEdit()
        self.notes = QLineEdit()
        self.out_edit = QLineEdit()
        self.out_edit.textEdited.connect(lambda _t: setattr(self, "_out_edited", True))
        out_b = QPushButton("…")
        out_b.clicked.connect(self._browse_out)
        orow = QHBoxLayout()
        orow.addWidget(self.out_edit, 1)
        orow.addWidget(out_b)

        self.preview = QPlainTextEdit(readOnly=True)
        self.preview.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.preview.setMinimumHeight(120)
        self.columns_hint = QLabel()
        self.columns_hint.setWordWrap(True)

        # Paired EMG + pose files: the pose file, the EMG rate to resample to, and the alignment found.
        self.pose_edit = QLineEdit()
        self.pose_edit.setPlaceholderText("pose file (joint angles) with its own time column")
        self.pose_edit.editingFinished.connect(self._update_pose_preview)
        pose_b = QPushButton("File…")
        pose_b.clicked.connect(self._browse_pose)
        prow = QHBoxLayout()
        prow.addWidget(self.pose_edit, 1)
        prow.addWidget(pose_b)
        self.resample = QDoubleSpinBox(minimum=0.0, maximum=100000.0, decimals=1, value=50.0, suffix=" Hz")
        self.resample.setSpecialValueText("mean rate of the distinct rows")
        self.alignment = QLabel(wordWrap=True)
        self.pose_box = QGroupBox("Pose file")
        pf = QFormLayout(self.pose_box)
        pf.addRow("Pose file", prow)
        pf.addRow("EMG resampled to", self.resample)
        pf.addRow("Alignment", self.alignment)

        form = QFormLayout()
        form.addRow("Source", srow)
        form.addRow("Format", self.format_combo)
        form.addRow(self.csv_box)
        form.addRow(self.pose_box)
        form.addRow("Subject", self.subject)
        form.addRow("Notes", self.notes)
        form.addRow("Save as", orow)

        self._build_job_controls("Import", "Open in Review", self.start_import)
        self.import_button, self.open_button = self.run_button, self.result_button
        self.open_button.clicked.connect(self._open_result)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(QLabel("Preview (first lines)"))
        lay.addWidget(self.preview, 1)
        lay.addWidget(self.columns_hint)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.error_label)
        lay.addWidget(self.buttons)
        self.resize(680, 720)
        self._input_widgets = (self.src_edit, file_b, dir_b, self.format_combo, self.csv_box, self.pose_box,
                               self.subject, self.notes, self.out_edit, out_b)
        self._set_running(False)

    # ------------------------------------------------------------------ inputs
    def set_source(self, src: str | Path) -> None:
        """Take a source path: guess its format, show its first lines, propose an output name."""
        src = Path(str(src).strip()).expanduser() if str(src).strip() else None
        if src is None:
            return
        if self.src_edit.text() != str(src):
            self.src_edit.setText(str(src))
        if src.exists():
            self.set_format(guess_format(src))
        lines = preview_lines(src)
        self.preview.setPlainText("\n".join(lines) if lines else f"(cannot read {src})")
        if lines and self.fmt() == "csv":
            # A first column of times is the time column, not EMG (it was stored as ch1 and ch8 dropped).
            from recorder.importers import guess_csv_columns
            g = guess_csv_columns(lines)
            self.emg_columns.setText(g["emg_columns"])
            self.time_column.setText(g["time_column"] or "")
            self.label_column.setText(g["label_column"] or "")
            self.time_unit.setCurrentIndex(max(0, self.time_unit.findData(g["time_unit"])))
        self._update_columns_hint()
        self._default_out()

    def set_output(self, path: str | Path) -> None:
        self.out_edit.setText(str(path))
        self._out_edited = True

    def source(self) -> Path | None:
        t = self.src_edit.text().strip()
        return Path(t).expanduser() if t else None

    def _browse_file(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "EMG file", str(self.source() or self.folder),
                                           "Text/CSV (*.csv *.txt *.tsv);;All files (*)")
        if f:
            self.set_source(f)

    def _browse_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "myo-readings session folder", str(self.source() or self.folder))
        if d:
            self.set_source(d)

    def _browse_out(self) -> None:
        f, _ = QFileDialog.getSaveFileName(self, "Save session as", self.out_edit.text() or str(self.folder),
                                           "Session files (*.h5)")
        if f:
            self.set_output(f if f.lower().endswith((".h5", ".hdf5")) else f + ".h5")

    def _on_format(self, *_a) -> None:
        self.csv_box.setVisible(self.fmt() == "csv")
        self.csv_box.setEnabled(self.fmt() == "csv")
        self.pose_box.setVisible(self.fmt() == "paired")
        self.pose_box.setEnabled(self.fmt() == "paired")

    def set_pose(self, path: str | Path) -> None:
        """Take a pose file: the format becomes 'paired', both files are previewed with the alignment."""
        self.pose_edit.setText(str(path))
        self.set_format("paired")
        self._update_pose_preview()

    def _browse_pose(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Pose file", str(self.source() or self.folder),
                                           "Text/CSV (*.csv *.txt *.tsv);;All files (*)")
        if f:
            self.set_pose(f)

    def _update_pose_preview(self) -> None:
        """Both files' first lines, and the alignment read from their first and last lines only."""
        from recorder.pose_import import describe_alignment, preview_alignment
        src, pose = self.source(), Path(self.pose_edit.text().strip()).expanduser()
        if src is None or not self.pose_edit.text().strip():
            return
        emg_lines, pose_lines = preview_lines(src, 8), preview_lines(pose, 8)
        self.preview.setPlainText("\n".join([f"# EMG: {src.name}"] + emg_lines + ["", f"# pose: {pose.name}"]
                                            + pose_lines))
        try:
            self.alignment.setText(describe_alignment(preview_alignment(src, pose)))
        except (ValueError, OSError, KeyError) as e:
            self.alignment.setText(f"cannot align: {e}")

    def _on_time_column(self, text: str) -> None:
        """With a time column the rate defaults to 'measure'; without one it must be given."""
        if text.strip() and self.rate.value() == 200.0:
            self.rate.setValue(0.0)
        elif not text.strip() and self.rate.value() == 0.0:
            self.rate.setValue(200.0)

    def _default_out(self) -> None:
        src = self.source()
        if self._out_edited or src is None:
            return
        stem = src.name if src.is_dir() else src.stem
        if src.is_file() and re.fullmatch(r"\d+", stem):  # myo-readings k.txt: name it after its folder
            stem = f"{src.parent.name}_{stem}"
        self.out_edit.setText(str(unique_path(self.folder / f"{stem}.h5")))

    def _update_columns_hint(self, *_a) -> None:
        """Show the columns of the previewed file (numbers and header names) to help the mapping."""
        lines = [ln for ln in self.preview.toPlainText().splitlines() if ln.strip()]
        if not lines or lines[0].startswith("(cannot read"):
            self.columns_hint.clear()
            return
        fields = next(csv.reader([lines[0]], delimiter=self.delimiter.currentData()))
        self.columns_hint.setText("Columns: " + ", ".join(f"{i}: {f.strip()}" for i, f in enumerate(fields)))

    def options(self) -> dict:
        """The importer's keyword arguments for the chosen format."""
        opts: dict = {"subject": self.subject.text().strip(), "notes": self.notes.text().strip()}
        if self.fmt() == "paired":
            r = self.resample.value()
            opts.update(pose_file=Path(self.pose_edit.text().strip()).expanduser(), resample_hz=r if r > 0 else None)
            return opts
        if self.fmt() != "csv":
            return opts
        time_col = self.time_column.text().strip() or None
        rate = self.rate.value()
        opts.update(emg_columns=self.emg_columns.text().strip(), time_column=time_col,
                    time_unit=self.time_unit.currentData(),
                    label_column=self.label_column.text().strip() or None,
                    delimiter=self.delimiter.currentData(), has_header=self.header.currentData(),
                    rate_hz=rate if rate > 0 else None, units=self.units.text().strip() or "counts")
        return opts

    def validate(self) -> str | None:
        src = self.source()
        if src is None:
            return "Choose a file or folder to import."
        if not src.exists():
            return f"Not found: {src}"
        if self.fmt() != "myo-readings" and src.is_dir():
            return f"{src} is a folder; only the myo-readings format imports a folder."
        if not self.out_edit.text().strip():
            return "Choose where to save the session."
        if self.fmt() == "paired":
            pose = self.pose_edit.text().strip()
            if not pose or not Path(pose).expanduser().is_file():
                return "Choose the pose file (joint angles with its own time column)."
        if self.fmt() == "csv":
            if not self.emg_columns.text().strip():
                return "Give the EMG columns (e.g. 0-7)."
            if not self.time_column.text().strip() and self.rate.value() <= 0:
                return "Give the sample rate, or a time column to measure it from."
        return None

    # ------------------------------------------------------------------ running
    def _inputs(self) -> tuple:
        return self._input_widgets

    def _refresh_inputs(self) -> None:
        self._on_format()

    def start_import(self, confirm_overwrite: bool = True) -> Worker | None:
        """Start the import job (returns its Worker), or show why it cannot start and return None."""
        if not self._can_start():
            return None
        dst = Path(self.out_edit.text().strip()).expanduser()
        if dst.suffix.lower() not in (".h5", ".hdf5"):
            dst = dst.with_name(dst.name + ".h5")
        if confirm_overwrite and not self.confirm_overwrite([dst] if dst.exists() else []):
            return None
        self.last_result = None
        # The importers report no progress: a busy bar.
        return self.run_job(run_import, self.fmt(), self.source(), dst, self.options(), determinate=False,
                            status=f"Importing {self.source().name} …")

    def cancel_import(self) -> None:
        self.cancel_job()

    def _job_returned(self, result: dict) -> None:
        self.last_result = result
        s = result["summary"]
        self.status.setText(f"Wrote {result['path']}: {s['samples']} samples × {s['channels']} channels at "
                            f"{s['sample_rate_hz']:g} Hz, {s['duration_s']:.1f} s, {s['labels']} labels, "
                            f"{s['gaps']} gaps.")
        self.open_button.show()
        self.imported.emit(str(result["path"]))

    def _job_errored(self, e: BaseException) -> None:
        self.status.setText("Import failed; no session was written.")
        self.error_label.setText(friendly_error(e, self.fmt()))

    def _job_aborted(self) -> None:
        self.status.setText("Import cancelled; no session was written.")

    def _open_result(self) -> None:
        if self.last_result is not None:
            self.open_requested.emit(str(self.last_result["path"]))
            self.accept()
