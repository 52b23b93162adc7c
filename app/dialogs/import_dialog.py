"""Import dialog: EMG text files (myo-readings, Neurotron, any CSV with a column mapping, XDF, an EMG
file with a pose file, one table of EMG and joints, a dataset folder) into session files in the
library folder.

The work is :func:`recorder.imports.job.import_to_session` (the same function as ``emgrec import``),
run as a :class:`~app.dialogs.job_dialog.JobDialog` job; it also guesses the format
(:func:`recorder.imports.job.guess_format`). The importers have no progress hooks, so the bar is
indeterminate (a folder import counts its sessions) and Cancel takes effect at the engine's next
check: a cancelled or failed import leaves nothing, and its errors name the file and line.
This module holds only the widgets and the worker job.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPlainTextEdit, QPushButton, QSpinBox, QVBoxLayout)

from recorder.imports import job as import_job
from recorder.imports.job import default_output_name, guess_format
from recorder.imports.pose import CLOCKS, PRESETS

from app.qt.errors import friendly_error
from app.dialogs.job_dialog import JobDialog
from app.qt.workers import Worker

log = logging.getLogger(__name__)

__all__ = ["ImportDialog", "run_import", "guess_format", "preview_lines"]

#: (format code, label): every format of the engine's import (recorder.imports.job.FORMATS).
FORMATS = tuple(import_job.FORMATS.items())
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


def unique_path(path: Path) -> Path:
    """``path``, or ``stem_2.h5``, ``stem_3.h5`` … if it exists."""
    if not path.exists():
        return path
    k = 2
    while path.with_name(f"{path.stem}_{k}{path.suffix}").exists():
        k += 1
    return path.with_name(f"{path.stem}_{k}{path.suffix}")


def run_import(fmt: str, src: str | Path, dst: str | Path, options: dict | None = None, force: bool = True,
               progress=None, cancel=None) -> dict:
    """Worker job: :func:`recorder.imports.job.import_to_session` of ``src`` in format ``fmt`` to ``dst``
    (force: the user confirmed replacing it), with the worker's ``progress`` (a folder
    import's :class:`recorder.core.types.Progress` passed through) and cancel Event. Returns ``{"path": first session,
    "paths": all, "summary": first summary, "summaries": all}``."""
    def prog(p) -> None:
        if progress is not None and fmt == "folder":  # one file: a busy bar, no steps to show
            progress(p)

    r = import_job.import_to_session(src, dst, fmt, force=force, progress=prog, cancel=cancel, **(options or {}))
    return {"path": r.path, "paths": r.paths, "summary": r.summaries[0], "summaries": r.summaries}


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
        # The clocks of the two time columns and the offset (emgrec import --emg-clock, --pose-clock,
        # --date, --date-order, --pose-offset; the same defaults).
        self.emg_clock, self.pose_clock = QComboBox(), QComboBox()
        for combo in (self.emg_clock, self.pose_clock):
            for c in CLOCKS:
                combo.addItem(c, c)
            combo.currentIndexChanged.connect(self._update_pose_preview)
        self.date = QLineEdit()
        self.date.setPlaceholderText("YYYY-MM-DD, for a time-of-day clock when the other file has no date")
        self.date.editingFinished.connect(self._update_pose_preview)
        self.date_order = QComboBox()
        for d in ("ymd", "dmy", "mdy"):
            self.date_order.addItem(d, d)
        self.date_order.currentIndexChanged.connect(self._update_pose_preview)
        self.pose_offset = QDoubleSpinBox(minimum=-1e6, maximum=1e6, decimals=3, value=0.0, suffix=" s")
        self.pose_offset.setToolTip("Seconds added to the pose clock")
        self.pose_offset.valueChanged.connect(self._update_pose_preview)
        self.pose_box = QGroupBox("Pose file")
        pf = QFormLayout(self.pose_box)
        pf.addRow("Pose file", prow)
        pf.addRow("EMG clock", self.emg_clock)
        pf.addRow("Pose clock", self.pose_clock)
        pf.addRow("Date", self.date)
        pf.addRow("Date order", self.date_order)
        pf.addRow("Pose offset", self.pose_offset)
        pf.addRow("EMG resampled to", self.resample)
        pf.addRow("Alignment", self.alignment)

        # One table of EMG and 3-D joints (emgrec import --joints ...; the same defaults).
        self.table_emg_columns = QLineEdit()
        self.table_emg_columns.setPlaceholderText("EMG columns: numbers or header names, e.g. 0-7")
        self.table_time_column = QLineEdit()
        self.table_time_column.setPlaceholderText("none: rows evenly spaced at the sample rate")
        self.table_rate = QDoubleSpinBox(minimum=0.0, maximum=100000.0, decimals=3, value=0.0, suffix=" Hz")
        self.table_rate.setSpecialValueText("measure from the time column")
        self.table_label_column = QLineEdit()
        self.table_label_column.setPlaceholderText("none")
        self.joints = QComboBox()
        for preset in PRESETS:
            self.joints.addItem(preset, preset)
        self.joints.setToolTip("Joint column naming: seed ('Thumb Proximal x'), mediapipe ('index_finger_tip_x'), "
                               "numbered ('x0')")
        self.joint_columns = QLineEdit()
        self.joint_columns.setPlaceholderText("optional: 63 joint columns by position instead of names, e.g. 9-71")
        self.layout_combo = QComboBox()
        for lay_ in ("interleaved", "blocks"):
            self.layout_combo.addItem(lay_, lay_)
        self.joint_units = QComboBox()
        for label, u in (("the naming's default", None), ("mm", "mm"), ("m", "m")):
            self.joint_units.addItem(label, u)
        self.frame_time_column = QLineEdit()
        self.frame_time_column.setPlaceholderText("optional: one frame per distinct value")
        self.table_box = QGroupBox("EMG and joints table")
        tf = QFormLayout(self.table_box)
        tf.addRow("EMG columns", self.table_emg_columns)
        tf.addRow("Time column", self.table_time_column)
        tf.addRow("Sample rate", self.table_rate)
        tf.addRow("Label column", self.table_label_column)
        tf.addRow("Joint names", self.joints)
        tf.addRow("Joint columns", self.joint_columns)
        tf.addRow("Column order", self.layout_combo)
        tf.addRow("Joint units", self.joint_units)
        tf.addRow("Frame time column", self.frame_time_column)

        # A dataset folder (emgrec import --pattern ...; the same defaults).
        self.pattern = QLineEdit()
        self.pattern.setPlaceholderText("file names, e.g. R_{rep}_C_{class}.csv or classe_{class}.dat")
        self.per = QComboBox()
        for code, label in (("folder", "one session per folder"), ("recording", "one session per recording")):
            self.per.addItem(label, code)
        self.folder_rate = QDoubleSpinBox(minimum=0.0, maximum=100000.0, decimals=3, value=0.0, suffix=" Hz")
        self.folder_rate.setSpecialValueText("required")
        self.folder_columns = QLineEdit()
        self.folder_columns.setPlaceholderText("all columns (or numbers, e.g. 0-7)")
        self.channels = QSpinBox(minimum=0, maximum=1024, value=0)
        self.channels.setSpecialValueText("text files only")
        self.channels.setToolTip("Channels of binary .dat recordings (interleaved samples)")
        self.dat_dtype = QLineEdit("<i2")
        self.dat_dtype.setToolTip("Sample type of .dat files (<i2: little-endian int16)")
        self.folder_box = QGroupBox("Dataset folder")
        ff = QFormLayout(self.folder_box)
        ff.addRow("Pattern", self.pattern)
        ff.addRow("Sessions", self.per)
        ff.addRow("Sample rate", self.folder_rate)
        ff.addRow("EMG columns", self.folder_columns)
        ff.addRow(".dat channels", self.channels)
        ff.addRow(".dat sample type", self.dat_dtype)

        form = QFormLayout()
        form.addRow("Source", srow)
        form.addRow("Format", self.format_combo)
        form.addRow(self.csv_box)
        form.addRow(self.pose_box)
        form.addRow(self.table_box)
        form.addRow(self.folder_box)
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
                               self.table_box, self.folder_box, self.subject, self.notes, self.out_edit, out_b)
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
            from recorder.imports.tables import guess_csv_columns
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
        for box, fmt in ((self.csv_box, "csv"), (self.pose_box, "paired"), (self.table_box, "table"),
                         (self.folder_box, "folder")):
            box.setVisible(self.fmt() == fmt)
            box.setEnabled(self.fmt() == fmt)
        self._default_out()

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
        from recorder.imports.pose import describe_alignment, preview_alignment
        src, pose = self.source(), Path(self.pose_edit.text().strip()).expanduser()
        if src is None or not self.pose_edit.text().strip():
            return
        emg_lines, pose_lines = preview_lines(src, 8), preview_lines(pose, 8)
        self.preview.setPlainText("\n".join([f"# EMG: {src.name}"] + emg_lines + ["", f"# pose: {pose.name}"]
                                            + pose_lines))
        try:
            self.alignment.setText(describe_alignment(preview_alignment(
                src, pose, emg_clock=self.emg_clock.currentData(), pose_clock=self.pose_clock.currentData(),
                date=self.date.text().strip() or None, pose_offset_s=self.pose_offset.value(),
                date_order=self.date_order.currentData())))
        except (ValueError, OSError, KeyError) as e:
            self.alignment.setText(f"cannot align: {e}")

    def _on_time_column(self, text: str) -> None:
        """With a time column the rate defaults to 'measure'; without one it must be given."""
        if text.strip() and self.rate.value() == 200.0:
            self.rate.setValue(0.0)
        elif not text.strip() and self.rate.value() == 0.0:
            self.rate.setValue(200.0)

    def _default_out(self) -> None:
        """A session in the library folder named after the source; a dataset folder's sessions go
        into the library folder itself (one per folder or recording, named after it)."""
        src = self.source()
        if self._out_edited or src is None:
            return
        if self.fmt() == "folder":
            self.out_edit.setText(str(self.folder))
            return
        self.out_edit.setText(str(unique_path(self.folder / default_output_name(src))))

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
            opts.update(pose_file=Path(self.pose_edit.text().strip()).expanduser(), resample_hz=r if r > 0 else None,
                        emg_clock=self.emg_clock.currentData(), pose_clock=self.pose_clock.currentData(),
                        date=self.date.text().strip() or None, date_order=self.date_order.currentData(),
                        pose_offset_s=self.pose_offset.value())
            return opts
        if self.fmt() == "table":
            cols = self.joint_columns.text().strip() or None
            rate = self.table_rate.value()
            opts.update(emg_columns=self.table_emg_columns.text().strip(), preset=None if cols else self.joints.currentData(),
                        pose_columns=cols, layout=self.layout_combo.currentData(),
                        units=self.joint_units.currentData(), time_column=self.table_time_column.text().strip() or None,
                        frame_time_column=self.frame_time_column.text().strip() or None,
                        sample_rate_hz=rate if rate > 0 else None,
                        label_column=self.table_label_column.text().strip() or None)
            return opts
        if self.fmt() == "folder":
            opts.update(pattern=self.pattern.text().strip(), per=self.per.currentData(),
                        sample_rate_hz=self.folder_rate.value(), emg_columns=self.folder_columns.text().strip() or None,
                        channels=self.channels.value() or None, dat_dtype=self.dat_dtype.text().strip() or "<i2")
            return opts
        if self.fmt() != "csv":
            return opts
        time_col = self.time_column.text().strip() or None
        rate = self.rate.value()
        opts.update(emg_columns=self.emg_columns.text().strip(), time_column=time_col,
                    time_unit=self.time_unit.currentData(),
                    label_column=self.label_column.text().strip() or None,
                    delimiter=self.delimiter.currentData(), has_header=self.header.currentData(),
                    sample_rate_hz=rate if rate > 0 else None, units=self.units.text().strip() or "counts")
        return opts

    def validate(self) -> str | None:
        src = self.source()
        if src is None:
            return "Choose a file or folder to import."
        if not src.exists():
            return f"Not found: {src}"
        if self.fmt() not in ("myo-readings", "folder") and src.is_dir():
            return f"{src} is a folder; only the myo-readings and dataset folder formats import a folder."
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
        if self.fmt() == "table":
            if not self.table_emg_columns.text().strip():
                return "Give the EMG columns of the table (e.g. 0-7)."
            if not self.table_time_column.text().strip() and self.table_rate.value() <= 0:
                return "Give the sample rate, or a time column."
        if self.fmt() == "folder":
            if not self.pattern.text().strip():
                return "Give the file-name pattern of the recordings, e.g. R_{rep}_C_{class}.csv."
            if self.folder_rate.value() <= 0:
                return "Give the sample rate of the recordings."
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
        folder = self.fmt() == "folder"  # dst: a folder of sessions (or one .h5); its names are known later
        if not folder and dst.suffix.lower() not in (".h5", ".hdf5"):
            dst = dst.with_name(dst.name + ".h5")
        if not folder and confirm_overwrite and not self.confirm_overwrite([dst] if dst.exists() else []):
            return None
        self.last_result = None
        # The importers report no progress: a busy bar (a folder import counts its sessions). A folder
        # import never replaces a session: the engine refuses naming it (its targets are found later).
        return self.run_job(run_import, self.fmt(), self.source(), dst, self.options(), force=not folder,
                            determinate=folder, status=f"Importing {self.source().name} …")

    def cancel_import(self) -> None:
        self.cancel_job()

    def _job_returned(self, result: dict) -> None:
        self.last_result = result
        s = result["summary"]
        more = f" (and {len(result['paths']) - 1} more sessions)" if len(result["paths"]) > 1 else ""
        self.status.setText(f"Wrote {result['path']}{more}: {s['samples']} samples × {s['channels']} channels at "
                            f"{s['sample_rate_hz']:g} Hz, {s['duration_s']:.1f} s, {s['labels']} labels, "
                            f"{s['gaps']} gaps.")
        self.open_button.show()
        self.imported.emit(str(result["path"]))

    def _job_errored(self, e: BaseException) -> None:
        self.status.setText("Import failed; no session was written.")
        self.error_label.setText(friendly_error(e, action="import", fmt=self.fmt()))

    def _job_aborted(self) -> None:
        self.status.setText("Import cancelled; no session was written.")

    def _open_result(self) -> None:
        if self.last_result is not None:
            self.open_requested.emit(str(self.last_result["path"]))
            self.accept()
