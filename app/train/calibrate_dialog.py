"""Calibrate: after putting the band on, record N seconds with the camera, fine-tune an earlier
model on them, show how it does, and go live with it, as one flow (issue 11, item 4).

Steps (the GUI thread only starts them and reacts to signals; nothing here blocks it):

1. record ``N + M`` seconds through the Capture tab's own recording path
   (:meth:`CaptureView.start_recording`, a new collision-free session file; a QTimer stops it);
2. run ``python -m recorder train SESSION --init MODEL --calibration-s N --out NEW --jsonl-progress``
   in a child process (:class:`CalibrationRunner`, the Train tab's :class:`TrainRunner` with another
   command), with progress and Cancel; the engine (``recorder.model.calibrate``) fine-tunes on the first N
   seconds and scores on the last M beside the earlier model uncalibrated, a model trained from
   scratch on the N seconds, a ridge on them and the mean pose of the N seconds;
3. show that report, and emit ``calibrated(NEW)`` (the main window loads it into the live preview).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from app.train.plots import bold, table_item
from app.train.view import TrainRunner, training_progress
from app.qt.workers import Progress, show_progress
from app.widgets.style import MESSAGE_COLORS

#: Rows of the report, in the engine's names (recorder.model.calibrate), with the words shown.
REPORT_ROWS = [("calibrated", "calibrated (this model)"),
               ("earlier model, uncalibrated", "earlier model, not calibrated"),
               ("from scratch on calibration", "trained from scratch on the N s"),
               ("ridge on calibration", "ridge regression on the N s"),
               ("mean pose of calibration", "mean pose of the N s (baseline)")]


class CalibrationRunner(TrainRunner):
    """Runs ``emgrec train SESSION --init MODEL --calibration-s N`` in a subprocess (JSON lines as
    TrainRunner); ``report`` holds the engine's calibration report once its last line arrived."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.init_dir = ""
        self.calibration_s = 60.0
        self.report: dict | None = None
        self.event.connect(self._on_line)

    def start_calibration(self, init_dir: str | Path, session: str | Path, out_dir: str | Path,
                          calibration_s: float, config: dict | None = None) -> None:
        """config: overrides of the earlier model's training config (e.g. {"train": {"epochs": 5}})."""
        self.init_dir, self.calibration_s, self.report = str(init_dir), float(calibration_s), None
        self.start(config or {}, [str(session)], out_dir)

    def command(self, config_path: str, out_dir: str, sessions: list[str]) -> tuple[str, list[str]]:
        # --allow-no-skill: a no-skill result is still shown (and flagged in model.json), not a failure.
        return sys.executable, ["-m", "recorder", "train", *sessions, "--config", config_path, "--init", self.init_dir,
                                "--calibration-s", f"{self.calibration_s:g}", "--out", out_dir,
                                "--jsonl-progress", "--allow-no-skill"]

    def _on_line(self, e: dict) -> None:
        if e.get("event") == "calibration":
            self.report = e.get("report")


class CalibrateDialog(QtWidgets.QDialog):
    """Non-modal. capture_view: the Capture tab (its capture and recording path); init_model: the
    earlier pose model folder (the live model); models_root: where the calibrated model goes.

    Signals: ``calibrated(str)`` the new model folder; ``flow_ended(str outcome, str message)`` with
    outcome "done", "failed" or "cancelled". ``state``: "idle", "recording", "calibrating", "done",
    "failed", "cancelled".
    """

    calibrated = QtCore.Signal(str)
    flow_ended = QtCore.Signal(str, str)

    def __init__(self, capture_view, init_model: str | None, models_root: str | Path, parent=None,
                 config: dict | None = None):
        super().__init__(parent)
        self.setWindowTitle("Calibrate to this band placement")
        self.capture_view = capture_view
        self.models_root = Path(models_root).expanduser()
        self.config = config
        self.state = "idle"
        self.session_path: str | None = None
        self.out_dir: Path | None = None
        self.report: dict | None = None
        self._t_rec = 0.0
        self._epochs_seen = 0
        self.runner = CalibrationRunner(self)
        self.runner.event.connect(self._on_event)
        self.runner.ended.connect(self._on_ended)
        self._rec_timer = QtCore.QTimer(self, interval=200)
        self._rec_timer.timeout.connect(self._tick_recording)
        capture_view.recording_stopped.connect(self._on_recording_stopped)
        self._build(init_model)

    def _build(self, init_model: str | None) -> None:
        intro = QtWidgets.QLabel(
            "After putting the band on: record while you move your hand in view of the camera (open, close, "
            "point, pinch, rest), then the earlier model is fine-tuned on the first seconds and checked on the "
            "rest, and the calibrated model goes live.", wordWrap=True)
        self.model_edit = QtWidgets.QLineEdit(init_model or "", placeholderText="an earlier pose model folder")
        browse = QtWidgets.QToolButton(text="…", toolTip="Choose the earlier model folder")
        browse.clicked.connect(self._browse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.model_edit, 1)
        row.addWidget(browse)
        self.calib_s = QtWidgets.QSpinBox(minimum=3, maximum=900, value=60, suffix=" s")
        self.calib_s.setToolTip("Seconds the model is fine-tuned on (emgrec train --calibration-s)")
        self.test_s = QtWidgets.QSpinBox(minimum=2, maximum=600, value=20, suffix=" s")
        self.test_s.setToolTip("Seconds recorded after them to check the calibrated model on")
        form = QtWidgets.QFormLayout()
        form.addRow("Earlier model", row)
        form.addRow("Calibrate on", self.calib_s)
        form.addRow("Then check on", self.test_s)
        self.progress = QtWidgets.QProgressBar(textVisible=False)
        self.status = QtWidgets.QLabel("", wordWrap=True)
        self.banner = QtWidgets.QLabel(wordWrap=True)
        self.banner.hide()
        self.table = QtWidgets.QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["", "MPJPE mm", "ratio to mean pose", "R²"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.hide()
        self.start_btn = QtWidgets.QPushButton("Record and calibrate")
        self.start_btn.setDefault(True)
        self.start_btn.clicked.connect(self.start)
        self.cancel_btn = QtWidgets.QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.cancel)
        self.close_btn = QtWidgets.QPushButton("Close")
        self.close_btn.clicked.connect(self.close)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.start_btn, self.cancel_btn, self.close_btn):
            buttons.addWidget(b)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.banner)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        self.resize(720, 520)
        self._update_controls()

    def _browse(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Earlier model", self.model_edit.text() or str(self.models_root))
        if d:
            self.model_edit.setText(d)

    # -- the flow ----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.state in ("recording", "calibrating")

    def _show(self, text: str, level: str) -> None:
        bg, fg = MESSAGE_COLORS[level]
        self.banner.setStyleSheet(f"QLabel {{ background: {bg}; color: {fg}; border-radius: 6px; padding: 6px; }}")
        self.banner.setText(text)
        self.banner.show()

    def start(self) -> bool:
        """Check the inputs and start recording; False (with a message) when something is missing."""
        if self.running:
            return False
        self.banner.hide()
        cap = self.capture_view.capture
        model = self.model_edit.text().strip()
        why = ("Connect the armband and the camera in the Capture tab first." if cap is None else
               "Calibration needs the camera: the model is fitted to the hand the camera sees. Connect one." if cap.camera is None else
               "Stop the current recording first." if cap.recording else
               "Choose the earlier model (a pose model trained on earlier sessions) to calibrate." if not model else
               f"{model} is not a model folder." if not (Path(model) / "model.json").is_file() else "")
        if why:
            self._show(why, "warn")
            return False
        if not self.capture_view.start_recording():
            self._show("Could not start recording; the Capture tab says why.", "error")
            return False
        self.session_path = str(self.capture_view.last_path)
        self.report = None
        self.table.hide()
        self.state = "recording"
        self._t_rec = time.monotonic()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self._rec_timer.start()
        self._tick_recording()
        self._update_controls()
        return True

    @property
    def record_s(self) -> float:
        return float(self.calib_s.value() + self.test_s.value())

    def _tick_recording(self) -> None:
        if self.state != "recording":
            return
        el = time.monotonic() - self._t_rec
        self.progress.setValue(int(1000 * min(1.0, el / self.record_s)))
        phase = ("move your hand: calibration" if el < self.calib_s.value() else "keep moving: checking part")
        self.status.setText(f"Recording {el:.0f} / {self.record_s:.0f} s ({phase}) → {Path(self.session_path).name}")
        if el >= self.record_s:
            self._rec_timer.stop()
            self.status.setText("Closing the session file…")
            self.capture_view.stop_recording()  # closes the file off the GUI thread; recording_stopped follows

    def _on_recording_stopped(self, path: str) -> None:
        if self.state != "recording" or Path(path) != Path(self.session_path or ""):
            return
        self._rec_timer.stop()
        el = time.monotonic() - self._t_rec
        if el < self.record_s - 0.5:  # stopped from the Capture tab before the time was up
            self._finish("failed", f"The recording was stopped after {el:.0f} s; calibration needs "
                                   f"{self.record_s:.0f} s. {Path(path).name} is kept as a session.")
            return
        self._calibrate()

    def _calibrate(self) -> None:
        init = Path(self.model_edit.text().strip())
        try:
            self.models_root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self._finish("failed", f"Cannot create the models folder {self.models_root}: {e}")
            return
        name = f"calibrated-{init.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        out, k = self.models_root / name, 2
        while out.exists():
            out, k = self.models_root / f"{name}-{k}", k + 1
        self.out_dir = out
        self.state = "calibrating"
        self._epochs_seen = 0
        self.progress.setRange(0, 0)
        self.status.setText(f"Calibrating {init.name} on the first {self.calib_s.value()} s of "
                            f"{Path(self.session_path).name}: reading the session…")
        self.runner.start_calibration(init, self.session_path, out, self.calib_s.value(), self.config)
        self._update_controls()

    def _on_event(self, e: dict) -> None:
        kind = e.get("event")
        # Two fine-tuning runs report epochs (earlier normalisation, refitted); then the references.
        if kind == "start":
            self._epochs_seen += 1
            self.status.setText(f"Fine-tuning {self._epochs_seen} of 2 ({e.get('n_train', 0)} calibration windows)…")
        elif kind == "epoch":
            n = max(1, int(e.get("epochs", 1)))
            run = training_progress(e)  # this run's epochs; the bar spans both runs
            show_progress(self.progress, Progress((self._epochs_seen - 1) * n + run.done, 2 * n, run.text))
            self.status.setText(f"Fine-tuning {self._epochs_seen} of 2: epoch {e['epoch']}/{n}")
        elif kind == "done" and self._epochs_seen >= 2:
            self.progress.setRange(0, 0)
            self.status.setText("Training the from-scratch reference and scoring all of them on the checking part…")

    def _on_ended(self, outcome: str, message: str) -> None:
        if outcome == "done" and self.runner.report is not None:
            self.report = self.runner.report
            self.show_report(self.report)
            self._finish("done", str(self.out_dir))
            self.calibrated.emit(str(self.out_dir))
        elif outcome == "cancelled":
            self._finish("cancelled", f"Calibration cancelled; no model was saved. The recording "
                                      f"{Path(self.session_path).name} is kept.")
        else:
            self._finish("failed", f"Calibration failed: {message or 'no report'}")

    def _finish(self, state: str, message: str) -> None:
        self.state = state
        self._rec_timer.stop()
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if state == "done" else 0)
        if state == "done":
            chosen = (self.report or {}).get("chosen", "")
            how = ("the earlier model as it was (it did best within the calibration seconds, so it is kept unchanged)"
                   if chosen == "earlier model" else f"{chosen} (lowest error within the calibration seconds)")
            self.status.setText(f"Calibrated model: {how}. Saved to {message} and loaded into the live preview; "
                                f"the table scores it on the checking part.")
            advice = verdict(self.report or {})
            if advice:
                self._show(advice, "warn")
        else:
            self.status.setText("")
            self._show(message, "warn" if state == "cancelled" else "error")
        self._update_controls()
        self.flow_ended.emit(state, message)

    def show_report(self, rep: dict) -> None:
        """Fill the table from a recorder.model.calibrate report (all ratios relative to the mean pose of the N s)."""
        m = rep.get("metrics") or {}
        rows = [(key, words) for key, words in REPORT_ROWS if key in m]
        self.table.setRowCount(len(rows))
        err = "mae_deg" if any("mae_deg" in v for v in m.values()) else "mpjpe_mm"
        self.table.horizontalHeaderItem(1).setText("angle MAE °" if err == "mae_deg" else "MPJPE mm")
        for r, (key, words) in enumerate(rows):
            v = m[key]
            items = [table_item(words, align_right=False), table_item(_f(v.get(err), 1)),
                     table_item(_f(v.get("ratio"), 2)), table_item(_f(v.get("r2"), 2))]
            for c, it in enumerate(items):
                self.table.setItem(r, c, bold(it) if key == "calibrated" else it)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip(f"chosen: {rep.get('chosen')}; {rep.get('n_calibration')} calibration windows, "
                              f"{rep.get('n_test')} checked; ratio < 1 is better than the mean pose")
        self.table.show()

    def report_rows(self) -> dict[str, list[str]]:
        """{row words: [cell texts]} of the report table (for tests)."""
        t = self.table
        return {t.item(r, 0).text(): [t.item(r, c).text() for c in range(1, t.columnCount())] for r in range(t.rowCount())}

    def cancel(self) -> None:
        """Stop whatever step is running (the recording is stopped and kept; the child is terminated)."""
        if self.state == "recording":
            self._rec_timer.stop()
            self.state = "cancelled"
            if self.capture_view.capture is not None and self.capture_view.capture.recording:
                self.capture_view.stop_recording()
            self._finish("cancelled", f"Calibration cancelled while recording; "
                                      f"{Path(self.session_path).name} is kept as a session.")
        elif self.state == "calibrating":
            self.status.setText("cancelling…")
            self.runner.cancel()

    def _update_controls(self) -> None:
        running = self.running
        self.start_btn.setEnabled(not running)
        self.start_btn.setText("Record and calibrate" if self.state in ("idle", "failed", "cancelled") else "Again")
        self.cancel_btn.setEnabled(running)
        for w in (self.model_edit, self.calib_s, self.test_s):
            w.setEnabled(not running)

    def shutdown(self) -> None:
        """Cancel a run and wait for its child process (window close)."""
        if self.state == "recording":
            self.cancel()
        if self.runner.running:
            self.runner.cancel()
            self.runner.wait(5000)
        try:
            self.capture_view.recording_stopped.disconnect(self._on_recording_stopped)
        except (RuntimeError, TypeError):
            pass

    def closeEvent(self, ev) -> None:  # noqa: N802 (Qt naming)
        if self.running:
            self.cancel()
        super().closeEvent(ev)


def verdict(rep: dict) -> str:
    """Plain words when a calibration report needs them ("" when the calibrated model has skill and
    beats the earlier model on the checking part): no skill, or the earlier model did better."""
    m, q = rep.get("metrics") or {}, rep.get("quality") or {}
    n_s = rep.get("calibration_s", 0)
    out = []
    if q.get("no_skill"):
        why = "; ".join(q.get("reasons") or []) or "its validation was no better than the mean pose"
        out.append(f"The calibrated model has not learnt to read the EMG: {why}. What it shows is no better than "
                   f"the mean pose, so do not trust it.")
    cal, old = (m.get("calibrated") or {}).get("ratio"), (m.get("earlier model, uncalibrated") or {}).get("ratio")
    if isinstance(cal, float) and isinstance(old, float) and math.isfinite(cal) and math.isfinite(old) and old < cal:
        out.append(f"On the checking part the earlier model without calibration did better ({old:.2f} vs {cal:.2f} "
                   f"of the mean pose's error); {n_s:g} s were too few to improve on it.")
    if out:
        out.append("Calibrate again on more seconds (60 s or more of varied movements, the band firm on the skin), "
                   "or record a few minutes and train a new model in the Train tab.")
    return " ".join(out)


def _f(v, digits: int) -> str:
    return "–" if v is None or not isinstance(v, (int, float)) or not math.isfinite(v) else f"{v:.{digits}f}"
