"""The Train tab: choose sessions and settings, train a model in a subprocess, watch its curves,
read its metrics, and pick a trained model for the live preview.

Training runs ``python -m recorder train SESSION... --out DIR --config CFG --jsonl-progress`` (the
``emgrec train`` command) in a :class:`QtCore.QProcess` (:class:`TrainRunner`), which prints the
engine's progress events one JSON object per line (start, one per epoch, done or error;
``recorder.model.training.PROGRESS_EVENTS``). The GUI thread only parses those lines, so a long run never
blocks it, and Cancel terminates the process; a cancelled run's folder is removed, so it never shows
up as a model.
Scanning session folders and reading model folders (model.json only, no torch) run on a WorkerPool.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from app.qt.errors import friendly_error
from app.train.plots import ConfusionMatrixPlot, CurvesPlot, FingerErrorPlot, bold, table_item
from app.qt.settings import Settings
from app.qt.workers import Progress, WorkerPool, show_progress
from app.widgets.style import MESSAGE_COLORS

log = logging.getLogger(__name__)

TASKS = [("Hand pose (MPJPE, mm)", "pose"), ("Gesture (classes)", "gesture")]
#: Pose targets (config data.target, ``emgrec train --target``); gesture models ignore it.
TARGETS = [("Hand landmarks (mm)", "landmarks"), ("Joint angles (°)", "angles")]
SPLITS = [("Time blocks (per session: last 15 % test, 15 % before it validation)", "time"),
          ("By session (last session(s) held out)", "session")]
_PATH_ROLE = QtCore.Qt.ItemDataRole.UserRole


# -- engine-side helpers run on worker threads -------------------------------------------------------
def _hint(text: str) -> QtWidgets.QLabel:
    """A grey line that says what to do while a list is empty."""
    lab = QtWidgets.QLabel(text, wordWrap=True)
    lab.setStyleSheet("color: #9aa4ad;")
    return lab


def load_registry() -> tuple[list[tuple[str, str]], str]:
    """([(architecture name, description)], the engine's default architecture) from recorder.model.catalogue
    (no torch: the GUI process imports torch only to load a model for the live preview)."""
    from recorder.model.catalogue import DEFAULT_ARCHITECTURE, descriptions
    return descriptions(), DEFAULT_ARCHITECTURE


def _vs_mean(m: dict, base_key: str, label: str) -> str:
    """The headline's " (LABEL baseline, ×ratio; ridge ×ratio)" for pose or angle metrics ``m``;
    "" without the mean baseline and its ratio."""
    base, ratio, ridge = m.get(base_key), m.get("ratio"), m.get("ridge_ratio")
    if base is None or ratio is None:
        return ""
    return f" ({label} {base:.1f}, ×{ratio:.2f}" + (f"; ridge ×{ridge:.2f}" if ridge is not None else "") + ")"


def headline(meta) -> tuple[str, float]:
    """The held-out (test, else validation) headline of a model (its ``recorder.model.folder.ModelMeta``):
    text and a sortable value (MPJPE mm, or 1 - accuracy; NaN when unknown)."""
    metrics = meta.metrics or {}
    part = "test" if "test" in metrics else "val" if "val" in metrics else None
    if part is None:
        return "no metrics", math.nan
    m = metrics[part]
    flag = "NO SKILL: " if meta.no_skill else ""
    if m.get("mpjpe_mm") is not None:
        extra = _vs_mean(m, "baseline_mpjpe_mm", "baseline")
        return f"{flag}{part} MPJPE {m['mpjpe_mm']:.1f} mm{extra}", float(m["mpjpe_mm"])
    if m.get("mae_deg") is not None:  # joint-angle targets
        extra = _vs_mean(m, "baseline_mae_deg", "mean-angle baseline")
        return f"{flag}{part} angle MAE {m['mae_deg']:.1f}°{extra}", float(m["mae_deg"])
    if m.get("accuracy") is not None:
        base = m.get("baseline_accuracy")
        extra = f" (majority {base:.2f}" if base is not None else ""
        if extra and m.get("lda_accuracy") is not None:
            extra += f"; LDA {m['lda_accuracy']:.2f}"
        extra += ")" if extra else ""
        return f"{flag}{part} accuracy {m['accuracy']:.3f}{extra}", 1.0 - float(m["accuracy"])
    return "no metrics", math.nan


def list_models(folder: str | Path) -> list[dict]:
    """Model folders directly inside ``folder`` (and ``folder`` itself if it is one), newest first.

    Each entry: path, name, task, architecture, headline, value, created, meta (its
    ``recorder.model.folder.ModelMeta``) and
    error (non-empty when model.json exists but is not a readable model). Folders without model.json
    (e.g. a run that is still going or was cut off) are not models and are not listed.
    """
    from recorder.model.folder import META_FILE, ModelFormatError, read_meta

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        return []
    candidates = [folder] + sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name)
    out = []
    for d in candidates:
        if not (d / META_FILE).is_file():
            continue
        entry = {"path": str(d), "name": d.name, "task": "", "architecture": "", "headline": "", "value": math.nan,
                 "created": "", "meta": None, "error": ""}
        try:
            meta = read_meta(d)
        except ModelFormatError as e:
            entry["error"] = str(e)
            out.append(entry)
            continue
        text, value = headline(meta)
        entry.update(task=meta.task, architecture=meta.architecture_name, headline=text,
                     value=value, created=meta.created_utc or "", meta=meta)
        out.append(entry)
    out.sort(key=lambda e: e["created"], reverse=True)
    return out


def _fmt_s(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "—"
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}"


def training_progress(e: dict) -> Progress | None:
    """The bar's :class:`Progress` for one JSONL training event (``recorder.model.training.train``'s
    ``progress`` dicts): epochs done of the planned epochs on "start" and "epoch"; None otherwise."""
    kind = e.get("event")
    if kind == "start":
        return Progress(0, max(1, int(e.get("epochs", 1))), "")
    if kind == "epoch":
        n = max(1, int(e.get("epochs", 1)))
        return Progress(int(e["epoch"]), n, f"epoch {e['epoch']}/{n}")
    return None


# -- the training subprocess -------------------------------------------------------------------------

class TrainRunner(QtCore.QObject):
    """Runs one training in a subprocess and turns its JSON lines into signals (GUI thread).

    Signals: ``event(dict)`` for every JSON line (start / epoch / done / error); ``ended(str outcome,
    str message)`` once, with outcome "done", "error", "cancelled" or "crashed".
    """

    event = QtCore.Signal(object)
    ended = QtCore.Signal(str, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.proc: QtCore.QProcess | None = None
        self.out_dir: Path | None = None
        self.done: dict | None = None
        self.error: str = ""
        self.events: list[dict] = []
        self._buf = b""
        self._stderr = b""
        self._cancelled = False
        self._created_out = False
        self._cfg_path: str | None = None
        self._kill_timer = QtCore.QTimer(self, singleShot=True, interval=3000)
        self._kill_timer.timeout.connect(self._kill)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.state() != QtCore.QProcess.ProcessState.NotRunning

    @staticmethod
    def command(config_path: str, out_dir: str, sessions: list[str]) -> tuple[str, list[str]]:
        # --allow-no-skill: a no-skill model is a finished run (exit 0); the done event's quality says so.
        return sys.executable, ["-m", "recorder", "train", *sessions, "--out", out_dir, "--config", config_path,
                                "--jsonl-progress", "--allow-no-skill"]

    def start(self, config: dict, sessions: list[str], out_dir: str | Path) -> None:
        """Start training ``config`` (a partial recorder.model.training config) on ``sessions`` into the
        model folder ``out_dir`` (must not exist yet: it is removed again if the run is cancelled)."""
        if self.running:
            raise RuntimeError("a training run is already going")
        self.out_dir = Path(out_dir)
        self._created_out = not self.out_dir.exists()
        self.done, self.error, self.events = None, "", []
        self._buf = self._stderr = b""
        self._cancelled = False
        fd, self._cfg_path = tempfile.mkstemp(prefix="emgrec-train-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(config, f)
        proc = QtCore.QProcess(self)
        env = QtCore.QProcessEnvironment.systemEnvironment()
        # The child must import this very `recorder` package, installed or not.
        root = str(Path(__file__).resolve().parents[2])
        env.insert("PYTHONPATH", os.pathsep.join(p for p in (root, env.value("PYTHONPATH", "")) if p))
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._process_error)
        self.proc = proc
        program, args = self.command(self._cfg_path, str(self.out_dir), sessions)
        log.info("training: %s %s", program, " ".join(args))
        proc.start(program, args)

    def cancel(self) -> None:
        """Terminate the run (SIGTERM, then kill after 3 s); ``ended("cancelled", ...)`` follows."""
        if not self.running:
            return
        self._cancelled = True
        self.proc.terminate()
        self._kill_timer.start()

    def _kill(self) -> None:
        if self.running:
            self.proc.kill()

    def wait(self, timeout_ms: int = 5000) -> bool:
        """Block until the process has ended (for shutdown); kills it if it outlives the timeout."""
        if self.proc is None:
            return True
        if not self.proc.waitForFinished(timeout_ms):
            self.proc.kill()
            return self.proc.waitForFinished(2000)
        return True

    def _read_stdout(self) -> None:
        self._buf += bytes(self.proc.readAllStandardOutput().data())
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").strip()
        if not text:
            return
        try:
            e = json.loads(text)
        except ValueError:
            log.info("training output: %s", text)  # not a progress line (a library printing)
            return
        if not isinstance(e, dict):
            return
        self.events.append(e)
        if e.get("event") == "done":
            self.done = e
        elif e.get("event") == "error":
            self.error = str(e.get("error", ""))
        self.event.emit(e)

    def _read_stderr(self) -> None:
        self._stderr = (self._stderr + bytes(self.proc.readAllStandardError().data()))[-8000:]

    def _process_error(self, err) -> None:
        if err == QtCore.QProcess.ProcessError.FailedToStart:
            self._end("crashed", f"could not start the training process ({self.proc.errorString()})")

    def _finished(self, code: int, status) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        if self._buf:
            self._line(self._buf)
            self._buf = b""
        self._read_stderr()
        if self._cancelled:
            # A cancelled run is not a model: remove the folder this run created (nothing else).
            if self._created_out and self.out_dir is not None and self.out_dir.exists():
                shutil.rmtree(self.out_dir, ignore_errors=True)
            self._end("cancelled", "Training cancelled.")
        elif code == 0 and self.done is not None:
            self._end("done", str(self.done.get("out_dir") or self.out_dir))
        elif self.error:
            self._end("error", self.error)
        else:
            tail = [ln for ln in self._stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
            why = tail[-1].strip() if tail else "no output"
            how = "crashed" if status == QtCore.QProcess.ExitStatus.CrashExit else f"exited with code {code}"
            self._end("crashed", f"the training process {how}: {why}")

    def _end(self, outcome: str, message: str) -> None:
        if self._cfg_path is not None:
            Path(self._cfg_path).unlink(missing_ok=True)
            self._cfg_path = None
        self.ended.emit(outcome, message)


# -- the tab -----------------------------------------------------------------------------------------
class _Banner(QtWidgets.QLabel):
    def __init__(self):
        super().__init__(wordWrap=True)
        self.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        bg, fg = MESSAGE_COLORS[level]
        self.setStyleSheet(f"QLabel {{ background: {bg}; color: {fg}; border-radius: 6px; padding: 6px;"
                           f" font-weight: bold; }}")
        self.setText(text)
        self.level = level
        self.show()


class TrainView(QtWidgets.QWidget):
    """Sessions, settings, Train/Cancel with progress, curves, metrics and the trained models.

    Signals: ``message(str)`` for the status bar; ``models_changed(list)`` with the entries of
    :func:`list_models` after every refresh; ``live_model_requested(str path)`` when the user picks a
    model for the live preview; ``training_ended(str outcome, str message)``.
    """

    message = QtCore.Signal(str)
    models_changed = QtCore.Signal(object)
    live_model_requested = QtCore.Signal(str)
    sessions_loaded = QtCore.Signal()
    training_ended = QtCore.Signal(str, str)

    def __init__(self, settings: Settings | None = None, parent=None, load_engine: bool = True):
        """load_engine False: call :meth:`load_engine` later (the main window does, once the
        window is up: the folder scans would delay the first traces; none of it imports torch)."""
        super().__init__(parent)
        self.settings = settings or Settings()
        self.pool = WorkerPool(self, max_threads=1)
        self.runner = TrainRunner(self)
        self.runner.event.connect(self._on_event)
        self.runner.ended.connect(self._on_ended)
        self.models: list[dict] = []
        self.last_metrics: dict | None = None
        self._task_running = "pose"
        self._t_start = 0.0
        self._closing = False
        self._engine_loaded = False
        self._pending_model: str | None = None
        self._build()
        if load_engine:
            self.load_engine()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.load_engine()   # shown before the main window's deferred load: load now
        super().showEvent(event)

    # -- construction -----------------------------------------------------------------------------
    def _value(self, key: str, default):
        v = self.settings.q.value(f"train/{key}", default)
        return default if v is None else v

    def _build(self) -> None:
        sessions = QtWidgets.QGroupBox("Sessions")
        self.session_dir = QtWidgets.QLineEdit(str(self._value("session_dir", self.settings.output_dir())))
        self.session_dir.returnPressed.connect(lambda: self.set_session_folder(self.session_dir.text()))
        folder_btn = QtWidgets.QToolButton(text="…", toolTip="Choose a folder of session files")
        folder_btn.clicked.connect(self._choose_session_folder)
        add_btn = QtWidgets.QPushButton("Add files…")
        add_btn.clicked.connect(self._add_files)
        all_btn = QtWidgets.QPushButton("All")
        all_btn.clicked.connect(lambda: self.session_list.selectAll())
        none_btn = QtWidgets.QPushButton("None")
        none_btn.clicked.connect(lambda: self.session_list.clearSelection())
        self.session_list = QtWidgets.QListWidget()
        self.session_list.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.session_list.setMinimumHeight(140)
        self.session_list.itemSelectionChanged.connect(self._update_controls)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.session_dir, 1)
        row.addWidget(folder_btn)
        row2 = QtWidgets.QHBoxLayout()
        for b in (add_btn, all_btn, none_btn):
            row2.addWidget(b)
        self.sessions_hint = _hint("No sessions in this folder yet: record one in the Capture tab, choose "
                                   "another folder (…), or Add files….")
        sl = QtWidgets.QVBoxLayout(sessions)
        sl.addLayout(row)
        sl.addWidget(self.sessions_hint)
        sl.addWidget(self.session_list, 1)
        sl.addLayout(row2)

        form_box = QtWidgets.QGroupBox("Model and training")
        self.task = QtWidgets.QComboBox()
        for text, key in TASKS:
            self.task.addItem(text, key)
        self.task.setCurrentIndex(max(0, self.task.findData(self._value("task", "pose"))))
        self.target = QtWidgets.QComboBox(toolTip="What a pose model predicts: the 21 landmarks (63 values, mm) "
                                                  "or joint angles in degrees (docs/models.md)")
        for text, key in TARGETS:
            self.target.addItem(text, key)
        self.target.setCurrentIndex(max(0, self.target.findData(self._value("target", "landmarks"))))
        self.task.currentIndexChanged.connect(lambda _i: self._update_controls())
        self.model = QtWidgets.QComboBox()
        self.model.addItem("loading…")
        self.model.setEnabled(False)
        self.window_ms = QtWidgets.QSpinBox(minimum=20, maximum=5000, singleStep=10, suffix=" ms")
        self.window_ms.setValue(int(self._value("window_ms", 400)))
        self.epochs = QtWidgets.QSpinBox(minimum=1, maximum=10000)
        self.epochs.setValue(int(self._value("epochs", 40)))
        self.lr = QtWidgets.QDoubleSpinBox(decimals=5, minimum=1e-5, maximum=1.0, singleStep=5e-4)
        self.lr.setValue(float(self._value("lr", 2e-3)))
        self.batch = QtWidgets.QSpinBox(minimum=2, maximum=65536, singleStep=32)
        self.batch.setValue(int(self._value("batch_size", 128)))
        self.split = QtWidgets.QComboBox()
        for text, key in SPLITS:
            self.split.addItem(text.split(" (")[0], key)
            self.split.setItemData(self.split.count() - 1, text, QtCore.Qt.ItemDataRole.ToolTipRole)
        self.split.setCurrentIndex(max(0, self.split.findData(self._value("split", "time"))))
        self.model_dir = QtWidgets.QLineEdit(str(self._value("model_dir", self.settings.output_dir() / "models")))
        self.model_dir.editingFinished.connect(self.refresh_models)
        out_btn = QtWidgets.QToolButton(text="…", toolTip="Choose the folder that holds trained models")
        out_btn.clicked.connect(self._choose_model_dir)
        out_row = QtWidgets.QHBoxLayout()
        out_row.addWidget(self.model_dir, 1)
        out_row.addWidget(out_btn)
        form = QtWidgets.QFormLayout(form_box)
        form.addRow("Task", self.task)
        form.addRow("Target", self.target)
        form.addRow("Model", self.model)
        form.addRow("Window", self.window_ms)
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.lr)
        form.addRow("Batch size", self.batch)
        form.addRow("Split", self.split)
        form.addRow("Models folder", out_row)

        run_box = QtWidgets.QGroupBox("Run")
        self.train_btn = QtWidgets.QPushButton("▶ Train")
        self.train_btn.clicked.connect(self.start_training)
        self.cancel_btn = QtWidgets.QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.cancel_training)
        self.progress = QtWidgets.QProgressBar(textVisible=True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.eta = QtWidgets.QLabel("idle", wordWrap=True)
        self.eta.setStyleSheet("color: #9aa4ad;")
        btns = QtWidgets.QHBoxLayout()
        btns.addWidget(self.train_btn)
        btns.addWidget(self.cancel_btn)
        rl = QtWidgets.QVBoxLayout(run_box)
        rl.addLayout(btns)
        rl.addWidget(self.progress)
        rl.addWidget(self.eta)

        left = QtWidgets.QWidget()
        ll = QtWidgets.QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(sessions, 1)
        ll.addWidget(form_box)
        ll.addWidget(run_box)
        left.setMinimumWidth(330)

        self.banner = _Banner()
        self.summary = QtWidgets.QLabel("Train a model, or pick one below to see its results.", wordWrap=True)
        self.summary.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.curves = CurvesPlot()
        self.metrics_table = QtWidgets.QTableWidget(0, 2)
        self.metrics_table.setHorizontalHeaderLabels(["validation", "test"])
        self.metrics_table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.metrics_table.verticalHeader().setDefaultSectionSize(22)
        self.confusion = ConfusionMatrixPlot()
        self.fingers = FingerErrorPlot()
        self.result_plot = QtWidgets.QStackedWidget()
        self.result_plot.addWidget(self.fingers)
        self.result_plot.addWidget(self.confusion)
        results = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        results.addWidget(self.metrics_table)
        results.addWidget(self.result_plot)
        results.setSizes([420, 520])

        models_box = QtWidgets.QGroupBox("Trained models")
        self.model_table = QtWidgets.QTableWidget(0, 5)
        self.model_table.setHorizontalHeaderLabels(["Model", "Task", "Architecture", "Held-out result", "Created"])
        self.model_table.horizontalHeader().setSectionResizeMode(3, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.model_table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.model_table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.model_table.verticalHeader().setVisible(False)
        self.model_table.itemSelectionChanged.connect(self._on_model_selected)
        self.model_table.doubleClicked.connect(lambda _i: self.use_selected_for_live())
        refresh = QtWidgets.QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_models)
        self.live_btn = QtWidgets.QPushButton("Use for live preview")
        self.live_btn.clicked.connect(self.use_selected_for_live)
        mb = QtWidgets.QHBoxLayout()
        mb.addStretch(1)
        mb.addWidget(refresh)
        mb.addWidget(self.live_btn)
        self.models_hint = _hint("No trained model here yet: select sessions on the left and press Train. "
                                 "A model then drives the live preview (toolbar, Live model).")
        ml = QtWidgets.QVBoxLayout(models_box)
        ml.addWidget(self.models_hint)
        ml.addWidget(self.model_table, 1)
        ml.addLayout(mb)

        right = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        top = QtWidgets.QWidget()
        tl = QtWidgets.QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.banner)
        tl.addWidget(self.summary)
        tl.addWidget(self.curves, 1)
        right.addWidget(top)
        right.addWidget(results)
        right.addWidget(models_box)
        right.setSizes([330, 300, 200])

        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([360, 1100])
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(split)
        self._update_controls()

    def load_engine(self) -> None:
        """Load the architecture list and the session and model lists (once; off the GUI thread)."""
        if self._engine_loaded or self._closing:
            return
        self._engine_loaded = True
        w = self.pool.start(load_registry)
        w.signals.returned.connect(self._fill_registry)
        w.signals.errored.connect(lambda e: self.banner.show_message(f"The training engine is unavailable: {e}"))
        folder = Path(self.session_dir.text()).expanduser()
        if folder.is_dir():
            self.set_session_folder(folder)
        self.refresh_models()

    def _fill_registry(self, registry: tuple[list[tuple[str, str]], str]) -> None:
        items, default = registry
        self.model.clear()
        for name, desc in items:
            self.model.addItem(name, name)
            self.model.setItemData(self.model.count() - 1, desc, QtCore.Qt.ItemDataRole.ToolTipRole)
        want = self._pending_model or self._value("model", default)  # set_config() before the registry came
        self._pending_model = None
        i = self.model.findData(want)
        if i < 0:
            i = self.model.findData(self._value("model", default))
        self.model.setCurrentIndex(max(0, i))
        self.model.setEnabled(True)
        self._update_controls()

    # -- sessions ---------------------------------------------------------------------------------
    def _choose_session_folder(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder of sessions", self.session_dir.text())
        if d:
            self.set_session_folder(d)

    def set_session_folder(self, folder) -> None:
        """List the session files of ``folder`` (scanned off the GUI thread; ``sessions_loaded`` follows)."""
        from recorder.session.library import scan

        folder = Path(folder).expanduser()
        self.session_dir.setText(str(folder))
        self.settings.q.setValue("train/session_dir", str(folder))
        w = self.pool.start(scan, folder)
        w.signals.returned.connect(self._fill_sessions)
        w.signals.errored.connect(self._scan_failed)

    def _scan_failed(self, e: BaseException) -> None:
        self.session_list.clear()
        self.banner.show_message(f"Cannot list sessions: {e}", "warn")
        self.sessions_loaded.emit()

    def _fill_sessions(self, infos) -> None:
        from app.review.library import not_a_session

        self.session_list.clear()
        for info in infos:
            if not not_a_session(info):   # an export's windows file is not a session
                self._add_session_item(info)
        self.sessions_hint.setVisible(self.session_list.count() == 0)
        self.sessions_loaded.emit()
        self._update_controls()

    def _add_session_item(self, info) -> None:
        if info.ok:
            cov = info.hand_coverage
            hand = f"hand {cov * 100:.0f} %" if math.isfinite(cov) else "no video"
            labels = f" · {info.n_labels} labels" if info.n_labels else ""
            text = (f"{info.name}   {_fmt_s(info.duration_s)} · {info.channels} ch @ {info.sample_rate_hz:g} Hz"
                    f" · {hand}{labels}")
        else:
            text = f"{info.name}   unreadable: {info.error}"
        it = QtWidgets.QListWidgetItem(text)
        it.setData(_PATH_ROLE, str(info.path))
        it.setToolTip(str(info.path))
        if not info.ok:
            it.setFlags(it.flags() & ~QtCore.Qt.ItemFlag.ItemIsSelectable)
            it.setForeground(QtWidgets.QApplication.palette().color(
                QtWidgets.QApplication.palette().ColorGroup.Disabled,
                QtWidgets.QApplication.palette().ColorRole.Text))
        self.session_list.addItem(it)

    def _add_files(self) -> None:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Add sessions", self.session_dir.text(),
                                                          "Session files (*.h5 *.hdf5);;All files (*)")
        if files:
            self.add_sessions(files, select=True)

    def add_sessions(self, paths, select: bool = True) -> None:
        """Add session files to the list (summarised off the GUI thread)."""
        from recorder.session.library import summarize

        def job():
            return [summarize(p) for p in paths]
        w = self.pool.start(job)
        w.signals.returned.connect(lambda infos: self._added(infos, select))

    def _added(self, infos, select: bool) -> None:
        known = set(self.session_paths(all_items=True))
        for info in infos:
            if str(info.path) not in known:
                self._add_session_item(info)
        self.sessions_hint.setVisible(self.session_list.count() == 0)
        if select:
            self.select_sessions([i.path for i in infos])
        self.sessions_loaded.emit()

    def session_paths(self, all_items: bool = False) -> list[str]:
        items = ([self.session_list.item(i) for i in range(self.session_list.count())] if all_items
                 else self.session_list.selectedItems())
        return [it.data(_PATH_ROLE) for it in items]

    def select_sessions(self, paths) -> None:
        want = {str(Path(p)) for p in paths}
        for i in range(self.session_list.count()):
            it = self.session_list.item(i)
            it.setSelected(it.data(_PATH_ROLE) in want and bool(it.flags() & QtCore.Qt.ItemFlag.ItemIsSelectable))

    # -- training ---------------------------------------------------------------------------------
    def _choose_model_dir(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Models folder", self.model_dir.text())
        if d:
            self.model_dir.setText(d)
            self.refresh_models()

    def config(self) -> dict:
        """The partial recorder.model.training config the form describes (the engine's defaults fill the
        rest, including the architecture until the registry has loaded)."""
        cfg = {"task": self.task.currentData(),
               "data": {"window_ms": float(self.window_ms.value())},
               "split": {"mode": self.split.currentData()},
               "train": {"epochs": int(self.epochs.value()), "lr": float(self.lr.value()),
                         "batch_size": int(self.batch.value())}}
        if cfg["task"] == "pose":
            cfg["data"]["target"] = self.target.currentData()
        if self.model.currentData():
            cfg["model"] = {"name": self.model.currentData(), "params": {}}
        return cfg

    def set_config(self, cfg: dict) -> None:
        """Set the form from a (partial) recorder.model.training config, the inverse of :meth:`config`:
        task, data.window_ms, data.target, split.mode, train.epochs/lr/batch_size and model.name;
        keys it does not name are left as they are. An architecture given before the registry has
        loaded is selected once it arrives. Raises ValueError for an unknown task, target, split or
        architecture (nothing is changed then)."""
        data, split, train = cfg.get("data", {}), cfg.get("split", {}), cfg.get("train", {})
        choices = []  # (combo, index) applied only once every value is known to be valid
        for combo, value, what in ((self.task, cfg.get("task"), "task"), (self.target, data.get("target"), "target"),
                                   (self.split, split.get("mode"), "split mode")):
            if value is None:
                continue
            i = combo.findData(value)
            if i < 0:
                known = ", ".join(str(combo.itemData(k)) for k in range(combo.count()))
                raise ValueError(f"unknown {what} {value!r} (known: {known})")
            choices.append((combo, i))
        name = (cfg.get("model") or {}).get("name")
        loaded = self.model.count() > 0 and self.model.itemData(0) is not None
        if name is not None and loaded and self.model.findData(name) < 0:
            raise ValueError(f"unknown architecture {name!r}")
        for combo, i in choices:
            combo.setCurrentIndex(i)
        if name is not None:
            if loaded:
                self.model.setCurrentIndex(self.model.findData(name))
            else:
                self._pending_model = name
        for box, value in ((self.window_ms, data.get("window_ms")), (self.epochs, train.get("epochs")),
                           (self.batch, train.get("batch_size"))):
            if value is not None:
                box.setValue(int(round(float(value))))
        if train.get("lr") is not None:
            self.lr.setValue(float(train["lr"]))
        self._update_controls()

    def _save_form(self) -> None:
        q = self.settings.q
        for key, value in (("task", self.task.currentData()), ("target", self.target.currentData()),
                           ("model", self.model.currentData()),
                           ("window_ms", self.window_ms.value()), ("epochs", self.epochs.value()),
                           ("lr", self.lr.value()), ("batch_size", self.batch.value()),
                           ("split", self.split.currentData()), ("model_dir", self.model_dir.text())):
            q.setValue(f"train/{key}", value)

    def start_training(self) -> bool:
        """Start a run with the selected sessions and the form's settings; False (with a message) if
        something is missing."""
        if self.runner.running:
            return False
        sessions = self.session_paths()
        if not sessions:
            self.banner.show_message("Select one or more sessions to train on.", "warn")
            return False
        if self.model.itemData(0) is None:
            self.banner.show_message("The model list is still loading; try again in a moment.", "warn")
            return False
        cfg = self.config()
        if cfg["split"]["mode"] == "session" and len(sessions) < 2:
            self.banner.show_message("A split by session needs at least two sessions (or use time blocks).", "warn")
            return False
        root = Path(self.model_dir.text().strip() or ".").expanduser()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self.banner.show_message(f"Cannot create the models folder {root}: {e}")
            return False
        name = f"{cfg['task']}-{cfg['model']['name']}-{time.strftime('%Y%m%d-%H%M%S')}"
        out = root / name
        k = 2
        while out.exists():
            out = root / f"{name}-{k}"
            k += 1
        self._save_form()
        self.banner.hide()
        self._task_running = cfg["task"]
        self.curves.reset(cfg["task"], cfg["data"].get("target", "landmarks"))
        self.metrics_table.setRowCount(0)
        what = f"{cfg['task']}, joint angles" if cfg["data"].get("target") == "angles" else cfg["task"]
        self.summary.setText(f"Training {cfg['model']['name']} ({what}) on {len(sessions)} session(s) → {out}")
        self.progress.setRange(0, 0)  # busy until the first epoch: reading sessions, building windows
        self.eta.setText("reading sessions and building windows…")
        self._t_start = time.monotonic()
        self.runner.start(cfg, sessions, out)
        self.message.emit(f"Training started: {out.name}")
        self._update_controls()
        return True

    def cancel_training(self) -> None:
        if self.runner.running:
            self.eta.setText("cancelling…")
            self.runner.cancel()

    def _on_event(self, e: dict) -> None:
        kind = e.get("event")
        p = training_progress(e)
        if p is not None:
            show_progress(self.progress, p)
        if kind == "start":
            classes = f", classes {', '.join(e['classes'])}" if e.get("classes") else ""
            self.eta.setText(f"{e.get('n_train', 0)} train / {e.get('n_val', 0)} val / {e.get('n_test', 0)} test "
                             f"windows · {e.get('params', 0):,} parameters · {e.get('device', '')}{classes}")
        elif kind == "epoch":
            self.curves.add_epoch(e)
            m = (f"val MPJPE {e['val_mpjpe_mm']:.1f} mm" if "val_mpjpe_mm" in e
                 else f"val angle MAE {e['val_mae_deg']:.1f}°" if "val_mae_deg" in e
                 else f"val accuracy {e.get('val_acc', math.nan):.3f}")
            rate = e.get("samples_per_s")
            rate_s = f" · {rate:,.0f} windows/s" if rate else ""
            self.eta.setText(f"epoch {e['epoch']}/{e['epochs']} · {m} · elapsed {_fmt_s(e.get('elapsed_s'))} · "
                             f"ETA {_fmt_s(e.get('eta_s'))}{rate_s}")
        elif kind == "done":
            self.show_metrics(e.get("metrics") or {})
            q = e.get("quality") or {}
            if q.get("no_skill"):  # the engine's plain-words verdict (recorder.model.guard)
                self.banner.show_message(q.get("message", "This model has no skill."), "warn")

    def _on_ended(self, outcome: str, message: str) -> None:
        self.progress.setRange(0, max(1, self.progress.maximum()))
        took = _fmt_s(time.monotonic() - self._t_start)
        if outcome == "done":
            d = self.runner.done or {}
            self.progress.setValue(self.progress.maximum())
            self.summary.setText(f"Finished in {took}: best epoch {d.get('best_epoch')} "
                                 f"(stopped: {d.get('stopped')}) → {message}")
            self.eta.setText("done")
            self.message.emit(f"Model saved: {message}")
            self.refresh_models(select=message)
        elif outcome == "cancelled":
            self.progress.setValue(0)
            self.eta.setText("cancelled")
            self.summary.setText("Training cancelled; no model was saved.")
            self.banner.show_message("Training cancelled; the partial run was discarded.", "warn")
        else:
            self.progress.setValue(0)
            self.eta.setText("failed")
            text = (friendly_error(message, action="train", task=self._task_running) if outcome == "error"
                    else f"Training failed: {message}")
            self.banner.show_message(text, "error")
            self.summary.setText("No model was saved.")
            self.message.emit(text.splitlines()[0])
        self.training_ended.emit(outcome, message)
        self._update_controls()

    # -- results ----------------------------------------------------------------------------------
    def show_metrics(self, metrics: dict) -> None:
        """Fill the metrics table and the result plot from {"val": {...}, "test": {...}}."""
        self.last_metrics = metrics
        parts = [p for p in ("val", "test") if p in metrics]
        t = self.metrics_table
        t.clear()
        t.setColumnCount(len(parts))
        t.setHorizontalHeaderLabels(["validation" if p == "val" else "test" for p in parts])
        rows: list[tuple[str, list[str], bool]] = []
        if not parts:
            t.setRowCount(0)
            return
        first = metrics[parts[0]]

        def f(v, d=1):
            return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{d}f}"

        def per_finger(unit: str, error: str, baseline: str) -> None:
            """Rows and bars of per-finger ``error`` in ``unit`` ("mm", "deg") beside the ``baseline``."""
            key, base_key = f"per_finger_{unit}", f"baseline_per_finger_{unit}"
            for finger in first.get(key, {}):
                rows.append((f"{finger} ({unit}, baseline)",
                             [f"{f(metrics[p][key].get(finger))}  ({f(metrics[p].get(base_key, {}).get(finger))})"
                              for p in parts], False))
            held = metrics[parts[-1]]
            self.fingers.set_errors(held.get(key, {}), held.get(base_key, {}))
            self.fingers.setTitle(f"Per-finger {error} ({'test' if parts[-1] == 'test' else 'validation'}, {unit}): "
                                  f"model vs {baseline}", color="#c8d0d8", size="10pt")
            self.result_plot.setCurrentWidget(self.fingers)

        rows.append(("windows", [str(metrics[p].get("n", "")) for p in parts], False))
        if "mpjpe_mm" in first:
            rows.append(("MPJPE (mm)", [f(metrics[p].get("mpjpe_mm")) for p in parts], True))
            rows.append(("mean-pose baseline (mm)", [f(metrics[p].get("baseline_mpjpe_mm")) for p in parts], True))
            rows.append(("ratio model / baseline", [f(metrics[p].get("ratio"), 3) for p in parts], True))
            rows.append(("ridge baseline (mm)", [f(metrics[p].get("ridge_mpjpe_mm")) for p in parts], False))
            rows.append(("ratio ridge / baseline", [f(metrics[p].get("ridge_ratio"), 3) for p in parts], False))
            rows.append(("R²", [f(metrics[p].get("r2"), 3) for p in parts], False))
            per_finger("mm", "MPJPE", "mean-pose baseline")
        elif "mae_deg" in first:  # joint-angle targets (recorder.dataset.angles.angle_metrics)
            rows.append(("angle MAE (deg)", [f(metrics[p].get("mae_deg")) for p in parts], True))
            rows.append(("mean-angle baseline (deg)", [f(metrics[p].get("baseline_mae_deg")) for p in parts], True))
            rows.append(("ratio model / baseline", [f(metrics[p].get("ratio"), 3) for p in parts], True))
            rows.append(("ratio ridge / baseline", [f(metrics[p].get("ridge_ratio"), 3) for p in parts], False))
            per_finger("deg", "angle MAE", "mean-angle baseline")
        else:
            rows.append(("accuracy", [f(metrics[p].get("accuracy"), 3) for p in parts], True))
            rows.append(("balanced accuracy", [f(metrics[p].get("balanced_accuracy"), 3) for p in parts], False))
            rows.append(("majority baseline", [f(metrics[p].get("baseline_accuracy"), 3) for p in parts], True))
            rows.append(("LDA baseline accuracy", [f(metrics[p].get("lda_accuracy"), 3) for p in parts], False))
            for name in first.get("per_class_recall", {}):
                rows.append((f"recall {name}", [f(metrics[p]["per_class_recall"].get(name), 3) for p in parts], False))
            held = metrics[parts[-1]]
            self.confusion.set_matrix(held["confusion"], held["class_names"])
            self.result_plot.setCurrentWidget(self.confusion)
        t.setRowCount(len(rows))
        t.setVerticalHeaderLabels([r[0] for r in rows])
        for i, (_, vals, strong) in enumerate(rows):
            for j, v in enumerate(vals):
                it = table_item(v)
                t.setItem(i, j, bold(it) if strong else it)

    def metric_rows(self) -> dict[str, list[str]]:
        """{row label: [cell text per column]} of the metrics table (tests, screenshots)."""
        t = self.metrics_table
        return {t.verticalHeaderItem(i).text(): [t.item(i, j).text() for j in range(t.columnCount())]
                for i in range(t.rowCount())}

    # -- models -----------------------------------------------------------------------------------
    def refresh_models(self, select: str | None = None) -> None:
        """Re-read the models folder off the GUI thread; ``models_changed`` follows."""
        folder = self.model_dir.text().strip()
        self.settings.q.setValue("train/model_dir", folder)
        w = self.pool.start(list_models, folder)
        w.signals.returned.connect(lambda entries: self._fill_models(entries, select))
        w.signals.errored.connect(lambda e: self.banner.show_message(f"Cannot list models in {folder}: {e}", "warn"))

    def _fill_models(self, entries: list[dict], select: str | None) -> None:
        self.models = entries
        t = self.model_table
        t.blockSignals(True)
        t.setRowCount(len(entries))
        for i, e in enumerate(entries):
            created = e["created"]
            try:
                created = _dt.datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")
            except ValueError:
                pass
            cells = [e["name"], e["task"], e["architecture"], e["error"] or e["headline"], created]
            for j, c in enumerate(cells):
                it = table_item(c, align_right=False)
                it.setData(_PATH_ROLE, e["path"])
                it.setToolTip(e["path"])
                t.setItem(i, j, it)
        t.resizeColumnToContents(0)
        t.blockSignals(False)
        if select is not None:
            for i, e in enumerate(entries):
                if Path(e["path"]) == Path(select):
                    t.selectRow(i)
        self.models_hint.setVisible(not entries)
        self.models_changed.emit(entries)
        self._update_controls()

    def selected_model(self) -> dict | None:
        rows = self.model_table.selectionModel().selectedRows()
        if not rows:
            return None
        path = self.model_table.item(rows[0].row(), 0).data(_PATH_ROLE)
        return next((e for e in self.models if e["path"] == path), None)

    def _on_model_selected(self) -> None:
        e = self.selected_model()
        self._update_controls()
        if e is None or e["meta"] is None or self.runner.running:
            return
        meta = e["meta"]
        self.curves.reset(meta.task, "angles" if meta.is_angles else "landmarks")
        for rec in meta.history:
            self.curves.add_epoch(rec)
        self.show_metrics(meta.metrics)
        tr = meta.training
        sessions = ", ".join(meta.session_names)
        self.summary.setText(f"<b>{e['name']}</b>: {meta.architecture_name} · {meta.task} · window "
                             f"{meta.input.get('window_ms')} ms · best epoch {tr.get('best_epoch')} of "
                             f"{tr.get('epochs_run')} ({tr.get('stopped')}) · trained on {sessions}")

    def use_selected_for_live(self) -> None:
        e = self.selected_model()
        if e is not None and not e["error"]:
            self.live_model_requested.emit(e["path"])
            self.message.emit(f"Live preview model: {e['name']}")

    # -- state ------------------------------------------------------------------------------------
    def _update_controls(self) -> None:
        running = self.runner.running
        loaded = self.model.count() > 0 and self.model.itemData(0) is not None  # registry arrived
        self.train_btn.setEnabled(not running and bool(self.session_list.selectedItems()) and loaded)
        self.cancel_btn.setEnabled(running)
        for w in (self.task, self.window_ms, self.epochs, self.lr, self.batch, self.split, self.model_dir):
            w.setEnabled(not running)
        self.model.setEnabled(not running and loaded)
        self.target.setEnabled(not running and self.task.currentData() == "pose")  # gestures have no pose target
        e = self.selected_model() if hasattr(self, "model_table") else None
        self.live_btn.setEnabled(e is not None and not e["error"])

    def shutdown(self) -> None:
        """Terminate a running training and join the workers (window close)."""
        if self._closing:
            return
        self._closing = True
        if self.runner.running:
            self.runner.cancel()
            self.runner.wait(5000)
        self.pool.shutdown(10.0)
