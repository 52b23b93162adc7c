"""The Capture tab: choose and connect sources, watch EMG / camera / landmarks live, record, label.

Threads: building and starting a capture (emulators, serial handshakes, camera open) and stopping
it (joins reader threads, closes the session file) run on a :class:`~app.qt.workers.WorkerPool`; their
results come back as signals. The GUI thread only pulls from the capture's buffers on a display
timer (``DISPLAY_HZ``), so it never waits on a device.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from recorder.capture.quality import assess, thresholds_for
from recorder.sources.factory import DEMO_REALISM, EMG_SOURCES, SYNTHETIC_REALISM
from recorder.sources.factory import emg_spec as _engine_spec
from recorder.core.types import DeviceState

from app.qt.bridge import CaptureBridge
from app.widgets.camera_view import CameraView
from app.capture.panels import ErrorBanner, RecordingPanel, SessionPanel
from app.widgets.emg_plot import EmgPlot, FpsMeter, SpectrogramView
from app.capture.labeling import LabelController, LabelPanel
from app.capture.protocol_view import ProtocolView
from app.qt.settings import Settings
from app.qt.workers import WorkerPool

log = logging.getLogger(__name__)

DISPLAY_HZ = 60
#: The Armband list: the engine's labelled source kinds, then "spec", a source spec typed in full.
_ARMBAND = {k.kind: k for k in EMG_SOURCES if k.label}
EMG_KINDS = [(k.label, k.kind) for k in _ARMBAND.values()] + [("Other (source spec)", "spec")]
_SPEC_PLACEHOLDER = "e.g. " + ", ".join(k.usage for k in EMG_SOURCES if not k.label)
CAMERA_KINDS = [("Synthetic", "synthetic"), ("None", "none"), ("Webcam", "webcam"), ("Video file", "file")]
_STATE_COLORS = {"streaming": "#38b000", "connecting": "#ffb703", "reconnecting": "#ffb703",
                 "error": "#e63946", "stopped": "#6c757d", "idle": "#6c757d", "running": "#38b000"}


def emg_spec(kind: str, arg: str = "") -> str:
    """Spec string for :meth:`Capture.from_specs` from a source-panel choice; ValueError if incomplete."""
    if kind != "spec":
        return _engine_spec(kind, arg)
    if not arg.strip():
        raise ValueError("type a source spec, e.g. lsl:NAME or synthetic:2000x16")
    return arg.strip()


def panel_choice(spec: str) -> tuple[str, str]:
    """The Sources panel (kind, arg) that shows EMG source ``spec`` ("myo:/dev/x" -> ("myo", "/dev/x"))."""
    kind, _, arg = spec.partition(":")
    if spec == "synthetic":
        return "synthetic", ""
    if kind in _ARMBAND and _ARMBAND[kind].arg and arg:
        return kind, arg
    if spec == "myo-ble":
        return "myo-ble", ""
    return "spec", spec


def emg_not_ready(status) -> str:
    """Why a recording must not start on this EMG status ("" when it may): a failed source would
    make a video-only session that looks like a good one. Connecting is fine (data follows); a
    reconnect is fine once the source has delivered (the gap is recorded)."""
    state = status.state.value if isinstance(status.state, DeviceState) else str(status.state)
    if state in (DeviceState.STREAMING.value, DeviceState.CONNECTING.value):
        return ""
    if state == DeviceState.RECONNECTING.value and status.samples_received > 0:
        return ""
    why = f": {status.last_error}" if status.last_error else ""
    return f"the armband is {_state_words(state)}{why}"


def _state_words(state: str) -> str:
    return "in error" if state == DeviceState.ERROR.value else state


def camera_spec(kind: str, arg: str = "") -> str:
    if kind in ("synthetic", "none"):
        return kind
    if kind == "webcam":
        return str(int(arg or 0))
    if kind == "file":
        if not arg.strip():
            raise ValueError("choose a video file for the camera")
        return arg.strip()
    raise ValueError(f"unknown camera kind {kind!r}")


def safe_subject(subject: str) -> str:
    """The subject reduced to characters safe in a file name ("session" when empty)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", subject.strip()).strip("-") or "session"


def session_filename(subject: str, when: float | None = None) -> str:
    """``<subject>_<YYYYmmdd-HHMMSS>.h5`` with the subject reduced to safe characters."""
    return f"{safe_subject(subject)}_{time.strftime('%Y%m%d-%H%M%S', time.localtime(when))}.h5"


def list_serial_ports() -> tuple[list[tuple[str, str]], str]:
    """[(device, description)] from recorder.sources.ports, and a message when listing failed."""
    try:
        from recorder.sources.ports import list_ports
    except ImportError:
        return [], "port listing unavailable (recorder.sources.ports missing); type a port"
    try:
        out = []
        for p in list_ports():
            dev = getattr(p, "device", None) or (p.get("device") if isinstance(p, dict) else str(p))
            desc = getattr(p, "description", None) or (p.get("description", "") if isinstance(p, dict) else "")
            out.append((str(dev), str(desc or "")))
        return out, "" if out else "no serial ports found"
    except OSError as e:
        return [], f"could not list serial ports: {e}"


def _open_capture(emg: str, camera: str, cancel: threading.Event, realism: str | None = None):
    """Worker job: build and start a capture (a synthetic subject with ``realism``). Returns
    (capture, warning). If the camera fails, the armband is still connected without it (the
    warning says why)."""
    from recorder.capture.engine import Capture
    warning = ""
    try:
        cap = Capture.from_specs(emg, camera, realism=realism)
    except Exception as e:
        if camera == "none":
            raise
        cap = Capture.from_specs(emg, "none", realism=realism)
        warning = f"Camera {camera!r} unavailable ({e}); recording EMG without video."
    if cancel.is_set():
        cap.stop()
        return None, ""
    try:
        cap.start()
    except BaseException:
        cap.stop()
        raise
    return cap, warning


class CaptureView(QtWidgets.QWidget):
    """Sources, live displays, recording controls, labels and the prompted protocol.

    Signals: status_message(str) for the window's status bar; capture_changed(object) when a
    capture is connected (or None when disconnected); recording_stopped(str path).
    Public: ``capture``, ``redraw_fps`` (display frames per second), actions ``act_connect``,
    ``act_record``, ``act_pause``, ``act_stop`` for menus and toolbars.
    """

    status_message = QtCore.Signal(str)
    capture_changed = QtCore.Signal(object)
    recording_stopped = QtCore.Signal(str)
    recording_started = QtCore.Signal(str)

    def __init__(self, settings: Settings, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.capture = None
        self.pool = WorkerPool(self)
        self.bridge = CaptureBridge(self)
        self.bridge.error.connect(self._on_capture_error)
        self.bridge.recording.connect(self._on_recording_state)
        self.bridge.device_state.connect(self._on_device_state)
        self.fps = FpsMeter()
        self._busy = False
        self._closing = False
        self._last_spec = 0.0
        self._last_quality = 0.0
        self._thresholds = None
        self._orphans: list = []  # captures a connect job produced after shutdown began
        self._lock = threading.Lock()
        self.last_path: Path | None = None

        self._build_actions()
        self.banner = ErrorBanner()
        self.plot = EmgPlot(width_s=5.0)
        self.spectrogram = SpectrogramView()
        self.camera_view = CameraView()
        self.labels = LabelController(settings.gestures(), settings.label_mode(), scope=self)
        self.label_panel = LabelPanel(self.labels)
        self.label_panel.gestures_changed.connect(self._save_gestures)
        self.protocol = ProtocolView([g.name for g in self.labels.gestures], settings.protocol())
        self.protocol.recording_needed.connect(self._record_then_protocol)
        self.protocol.holding.connect(self.label_panel.set_protocol_label)
        # Demo (synthetic subject): the hand and EMG perform the gesture pressed or prompted.
        self._protocol_holding = ""
        self._demo_pose: str | None = None
        self.labels.active_changed.connect(lambda _names: self._demo_perform())
        self.protocol.holding.connect(self._on_protocol_holding)

        left = QtWidgets.QWidget()
        ll = QtWidgets.QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self._build_sources())
        ll.addWidget(self._build_recording())
        ll.addWidget(self._build_metadata())
        ll.addStretch(1)
        left_scroll = QtWidgets.QScrollArea(widgetResizable=True, frameShape=QtWidgets.QFrame.Shape.NoFrame)
        left_scroll.setWidget(left)
        left_scroll.setMinimumWidth(300)

        center = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        center.addWidget(self.plot)
        center.addWidget(self.spectrogram)
        center.setStretchFactor(0, 3)
        center.setStretchFactor(1, 1)
        center.setSizes([620, 200])

        right = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        right.addWidget(self.camera_view)
        right.addWidget(self.label_panel)
        right.addWidget(self.protocol)
        right.setSizes([300, 280, 300])
        right.setMinimumWidth(340)

        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        split.addWidget(left_scroll)
        split.addWidget(center)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([320, 900, 380])
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.banner)
        lay.addWidget(split, 1)

        self.display_timer = QtCore.QTimer(self)
        self.display_timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.display_timer.setInterval(int(1000 / DISPLAY_HZ))
        self.display_timer.timeout.connect(self.redraw)
        self.status_timer = QtCore.QTimer(self)
        self.status_timer.setInterval(500)
        self.status_timer.timeout.connect(self.refresh_status)
        self._show_not_connected()
        self._update_controls()

    def _show_not_connected(self) -> None:
        self.plot.set_message("Not connected: choose the armband and camera under Sources, then Connect (Ctrl+K).")
        self.camera_view.set_message("No camera yet: Connect (Ctrl+K) starts it.")

    # -- construction --------------------------------------------------------------------------------
    def _build_actions(self) -> None:
        def act(text, shortcut, slot, tip):
            a = QtGui.QAction(text, self)
            a.setShortcut(QtGui.QKeySequence(shortcut))
            a.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
            a.setToolTip(f"{tip} ({shortcut})")
            a.triggered.connect(slot)
            self.addAction(a)
            return a
        self.act_connect = act("Connect", "Ctrl+K", self.toggle_connection, "Connect or disconnect the sources")
        self.act_record = act("● Record", "Ctrl+R", self.start_recording, "Start recording a session file")
        self.act_pause = act("Pause", "Ctrl+P", self.toggle_pause, "Pause or resume the recording")
        self.act_stop = act("■ Stop", "Ctrl+S", self.stop_recording, "Stop recording and close the file")

    def _build_sources(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Sources")
        self.emg_kind = QtWidgets.QComboBox()
        for text, kind in EMG_KINDS:
            self.emg_kind.addItem(text, kind)
            if kind in _ARMBAND:
                self.emg_kind.setItemData(self.emg_kind.count() - 1, _ARMBAND[kind].help,
                                          QtCore.Qt.ItemDataRole.ToolTipRole)
        self.emg_arg = QtWidgets.QComboBox(editable=True)
        self.emg_arg.lineEdit().setPlaceholderText("port or file")
        self.emg_browse = QtWidgets.QToolButton(text="…", toolTip="Refresh ports / choose a file")
        self.emg_browse.clicked.connect(self._browse_emg)
        # The synthetic subject (armband and camera): shown in the argument's place for Synthetic.
        self.realism = QtWidgets.QComboBox()
        for name, text, what in SYNTHETIC_REALISM:
            self.realism.addItem(text, name)
            self.realism.setItemData(self.realism.count() - 1, what, QtCore.Qt.ItemDataRole.ToolTipRole)
        self.realism.setToolTip("The synthetic subject (armband, camera, typed synthetic specs): "
                                + "; ".join(f"{t}: {w}" for _, t, w in SYNTHETIC_REALISM))
        self.cam_kind = QtWidgets.QComboBox()
        for text, kind in CAMERA_KINDS:
            self.cam_kind.addItem(text, kind)
        self.cam_arg = QtWidgets.QLineEdit(placeholderText="index or video file")
        self.cam_browse = QtWidgets.QToolButton(text="…", toolTip="Choose a video file")
        self.cam_browse.clicked.connect(self._browse_camera)
        self.emg_kind.currentIndexChanged.connect(self._on_emg_kind)
        self.cam_kind.currentIndexChanged.connect(self._on_cam_kind)
        self.connect_btn = QtWidgets.QPushButton("Connect")
        self.connect_btn.clicked.connect(self.toggle_connection)
        self.ports_note = QtWidgets.QLabel(wordWrap=True)
        self.ports_note.setStyleSheet("color: #9aa4ad; font-size: 11px;")

        e = self.settings.emg_choice()
        c = self.settings.camera_choice()
        self.emg_kind.setCurrentIndex(max(0, self.emg_kind.findData(e.get("kind", "synthetic"))))
        self.emg_arg.setEditText(e.get("arg", ""))
        self.cam_kind.setCurrentIndex(max(0, self.cam_kind.findData(c.get("kind", "synthetic"))))
        self.cam_arg.setText(c.get("arg", ""))
        self.realism.setCurrentIndex(max(0, self.realism.findData(self.settings.realism_choice(DEMO_REALISM))))
        self._on_emg_kind()
        self._on_cam_kind()

        self.emg_status = QtWidgets.QLabel("not connected")
        self.cam_status = QtWidgets.QLabel("—")
        self.lm_status = QtWidgets.QLabel("—")
        for lab in (self.emg_status, self.cam_status, self.lm_status):
            lab.setTextFormat(QtCore.Qt.TextFormat.RichText)
            lab.setWordWrap(True)
        g = QtWidgets.QGridLayout(box)
        g.addWidget(QtWidgets.QLabel("Armband"), 0, 0)
        g.addWidget(self.emg_kind, 0, 1, 1, 2)
        g.addWidget(self.emg_arg, 1, 1)
        g.addWidget(self.realism, 1, 1)
        g.addWidget(self.emg_browse, 1, 2)
        g.addWidget(self.ports_note, 2, 1, 1, 2)
        g.addWidget(QtWidgets.QLabel("Camera"), 3, 0)
        g.addWidget(self.cam_kind, 3, 1, 1, 2)
        g.addWidget(self.cam_arg, 4, 1)
        g.addWidget(self.cam_browse, 4, 2)
        g.addWidget(self.connect_btn, 5, 0, 1, 3)
        g.addWidget(self.emg_status, 6, 0, 1, 3)
        g.addWidget(self.cam_status, 7, 0, 1, 3)
        g.addWidget(self.lm_status, 8, 0, 1, 3)
        g.setColumnStretch(1, 1)
        return box

    def _build_recording(self) -> RecordingPanel:
        box = self.recording_panel = RecordingPanel(self.settings)
        box.record_btn.clicked.connect(self.start_recording)
        box.pause_btn.clicked.connect(self.toggle_pause)
        box.stop_btn.clicked.connect(self.stop_recording)
        # The panel's widgets under the names the rest of the view (and its tests) use.
        self.record_btn, self.pause_btn, self.stop_btn = box.record_btn, box.pause_btn, box.stop_btn
        self.elapsed, self.file_info, self.out_dir = box.elapsed, box.file_info, box.out_dir
        self.store_images = box.store_images
        return box

    def _build_metadata(self) -> SessionPanel:
        box = self.session_panel = SessionPanel(self.settings)
        self.subject, self.hand, self.placement, self.notes = box.subject, box.hand, box.placement, box.notes
        return box

    # -- source choices ------------------------------------------------------------------------------
    def _on_emg_kind(self) -> None:
        kind = self.emg_kind.currentData()
        needs = kind != "synthetic"
        self.emg_arg.setEnabled(needs)
        self.emg_browse.setEnabled(needs)
        self.emg_arg.setVisible(needs)
        self.realism.setVisible(not needs)
        self.ports_note.setText("")
        row = _ARMBAND.get(kind)
        if row is not None and row.arg == "PORT":
            self._refresh_ports()
        elif row is not None and row.arg:
            self.emg_arg.lineEdit().setPlaceholderText(row.placeholder)
        elif kind == "spec":
            self.emg_arg.lineEdit().setPlaceholderText(_SPEC_PLACEHOLDER)

    def _refresh_ports(self) -> None:
        text = self.emg_arg.currentText()
        ports, note = list_serial_ports()
        self.emg_arg.clear()
        for dev, desc in ports:
            self.emg_arg.addItem(f"{dev}", dev)
            self.emg_arg.setItemData(self.emg_arg.count() - 1, desc, QtCore.Qt.ItemDataRole.ToolTipRole)
        self.emg_arg.setEditText(text or (ports[0][0] if ports else ""))
        self.emg_arg.lineEdit().setPlaceholderText("serial port, e.g. /dev/ttyACM0")
        self.ports_note.setText(note)

    def _browse_emg(self) -> None:
        if self.emg_kind.currentData() == "replay":
            path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Replay file", str(self.settings.output_dir()),
                                                            "Sessions and EMG files (*.h5 *.csv *.txt);;All files (*)")
            if path:
                self.emg_arg.setEditText(path)
        else:
            self._refresh_ports()

    def _on_cam_kind(self) -> None:
        kind = self.cam_kind.currentData()
        self.cam_arg.setEnabled(kind in ("webcam", "file"))
        self.cam_browse.setEnabled(kind == "file")
        if kind == "webcam" and not self.cam_arg.text().strip().isdigit():
            self.cam_arg.setText("0")

    def _browse_camera(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Video file", "", "Videos (*.mp4 *.avi *.mov *.mkv);;All files (*)")
        if path:
            self.cam_arg.setText(path)

    def _save_gestures(self, gestures, mode) -> None:
        self.settings.set_gestures(gestures)
        self.settings.set_label_mode(mode)

    # -- connect / disconnect ----------------------------------------------------------------------
    def toggle_connection(self) -> None:
        if self.capture is not None:
            self.disconnect_sources()
        else:
            self.connect_sources()

    def connect_sources(self, emg: str | None = None, camera: str | None = None, realism: str | None = None) -> None:
        """Connect the sources chosen in the panel, or the given spec strings (CLI); non-blocking.
        realism: the synthetic subject's preset (``--realism``); None: the panel's Subject choice.
        Results arrive as capture_changed (success) or a banner message (failure)."""
        if self._busy or self.capture is not None or self._closing:
            return
        if realism is None:
            realism = self.realism.currentData()
            self.settings.set_realism_choice(realism)
        else:
            self.realism.setCurrentIndex(max(0, self.realism.findData(realism)))
        try:
            if emg is None:
                emg = emg_spec(self.emg_kind.currentData(), self.emg_arg.currentText())
                self.settings.set_emg_choice(self.emg_kind.currentData(), self.emg_arg.currentText())
            if camera is None:
                camera = camera_spec(self.cam_kind.currentData(), self.cam_arg.text())
                self.settings.set_camera_choice(self.cam_kind.currentData(), self.cam_arg.text())
        except ValueError as e:
            self.banner.show_message(str(e), "warn")
            return
        self._show_choice(emg, camera)
        self._busy = True
        self.banner.hide()
        self.emg_status.setText(f"connecting to <b>{emg}</b>…")
        self.status_message.emit(f"Connecting to {emg} / camera {camera}…")
        w = self.pool.start(_open_capture, emg, camera, realism=realism)
        w.signals.returned.connect(self._on_connected)
        w.signals.errored.connect(lambda e, spec=emg: self._on_connect_failed(spec, e))
        w.signals.finished.connect(self._job_done)
        self._watch(w)
        self._update_controls()

    def _show_choice(self, emg: str, camera: str) -> None:
        """Make the Sources panel show what is being connected (a CLI spec, not the last choice)."""
        kind, arg = panel_choice(emg)
        self.emg_kind.blockSignals(True)
        self.emg_kind.setCurrentIndex(max(0, self.emg_kind.findData(kind)))
        self.emg_kind.blockSignals(False)
        self.emg_arg.setEditText(arg)
        ckind = camera if camera in ("synthetic", "none") else ("webcam" if camera.isdigit() else "file")
        self.cam_kind.blockSignals(True)
        self.cam_kind.setCurrentIndex(max(0, self.cam_kind.findData(ckind)))
        self.cam_kind.blockSignals(False)
        self.cam_arg.setText("" if ckind in ("synthetic", "none") else camera)

    def _watch(self, w) -> None:
        # A result that arrives after shutdown began is stopped there (see shutdown()).
        def keep(result):
            if result and result[0] is not None:
                with self._lock:
                    self._orphans.append(result[0])
        w.signals.returned.connect(keep, QtCore.Qt.ConnectionType.DirectConnection)

    def _job_done(self) -> None:
        self._busy = False
        self._update_controls()

    def _on_connected(self, result) -> None:
        cap, warning = result
        # The job is over once it returned; its `finished` may be processed later, and Record must
        # not stay disabled until then.
        self._busy = False
        with self._lock:
            if cap in self._orphans:
                self._orphans.remove(cap)
        if cap is None:
            return
        if self._closing:
            cap.stop()
            return
        self.capture = cap
        self._demo_pose = None
        self.bridge.attach(cap)
        self.labels.set_capture(cap)
        self.protocol.set_capture(cap)
        names = list(cap.emg.channel_names)
        self.plot.set_channels(names)
        self.spectrogram.set_channels(names, cap.emg.sample_rate_hz, self.plot.width_s)
        self._thresholds = thresholds_for(cap.emg.kind, cap.emg.dtype, cap.emg.scale_to_uV)
        if cap.camera is None:
            self.camera_view.set_message("No camera")
        else:
            self.camera_view.set_message("Waiting for frames…")
        if warning:
            self.banner.show_message(warning, "warn")
        # Errors raised while the worker started the parts happened before the bridge listened.
        st = cap.status()
        early = list(st["errors"])
        e = st["emg"]
        if e.state in (DeviceState.ERROR, DeviceState.RECONNECTING) and e.last_error:
            early.append(f"{cap.emg.kind}: {e.last_error}")
        if early:
            self.banner.show_message(early[-1], "error")
        self.fps = FpsMeter()
        self.display_timer.start()
        self.status_timer.start()
        self.refresh_status()
        if early:
            self.status_message.emit(f"Connected, but {early[-1]}")
        else:
            self.status_message.emit(f"Connected: {cap.emg.kind}, {len(names)} channels at "
                                     f"{cap.emg.sample_rate_hz:g} Hz")
        self.capture_changed.emit(cap)
        self._update_controls()

    def _on_connect_failed(self, spec: str, e: BaseException) -> None:
        msg = f"Could not connect {spec}: {e}"
        log.warning(msg)
        self.emg_status.setText("not connected")
        self.plot.set_message("Could not connect (see the message above): fix the source, then Connect again.")
        self.banner.show_message(msg, "error")
        self.status_message.emit(msg)

    def disconnect_sources(self) -> None:
        """Stop the capture (finishing any recording) off the GUI thread; non-blocking."""
        cap = self.capture
        if cap is None or self._busy:
            return
        self.protocol.stop()
        self.labels.release_all()
        self.display_timer.stop()
        self.status_timer.stop()
        self.bridge.detach()
        self.labels.set_capture(None)
        self.protocol.set_capture(None)
        self.capture = None
        self._busy = True
        recording = cap.recording
        w = self.pool.start(_stop_capture, cap)
        w.signals.returned.connect(lambda path: self._on_recording_closed(path) if recording else None)
        w.signals.errored.connect(lambda e: self.banner.show_message(f"Error while disconnecting: {e}", "error"))
        w.signals.finished.connect(self._job_done)
        self.emg_status.setText("not connected")
        self.cam_status.setText("—")
        self.lm_status.setText("—")
        self.plot.update_data(*_empty())
        self._show_not_connected()
        self.capture_changed.emit(None)
        self.status_message.emit("Disconnected")
        self._update_controls()

    # -- recording ---------------------------------------------------------------------------------
    def metadata(self) -> dict:
        return self.session_panel.metadata()

    def start_recording(self) -> bool:
        cap = self.capture
        if cap is None or cap.recording or self._busy:
            return False
        not_ready = emg_not_ready(cap.emg.status())
        if not_ready:
            self.banner.show_message(f"Not recording: {not_ready}. Disconnect, fix the armband or choose "
                                     "another source, and connect again.", "error")
            return False
        meta = self.metadata()
        self.settings.set_metadata(meta)
        out = Path(self.out_dir.text().strip() or self.settings.output_dir()).expanduser()
        self.settings.set_output_dir(out)
        try:
            # A name nobody has or holds (``_2``, ``_3``... within one second); never overwritten.
            from recorder.session.writelock import unique_path
            path = unique_path(out, safe_subject(meta["subject"]), sep="_")
        except OSError as e:
            self.banner.show_message(f"Cannot record to {out}: {e}", "error")
            return False
        try:
            cap.start_recording(path, meta, overwrite=False,
                                store_video="jpeg" if self.store_images.isChecked() else "none")
        except (OSError, RuntimeError, ValueError) as e:
            self.banner.show_message(f"Cannot record to {path}: {e}", "error")
            return False
        self.last_path = path
        self.recording_started.emit(str(path))
        self.status_message.emit(f"Recording to {path}")
        self.refresh_status()
        self._update_controls()
        return True

    def _record_then_protocol(self) -> None:
        if self.start_recording():
            self.protocol.start()

    def toggle_pause(self) -> None:
        cap = self.capture
        if cap is None or not cap.recording:
            return
        if cap.paused:
            cap.resume_recording()
        else:
            self.labels.release_all()  # a label must not span a pause
            cap.pause_recording()
        self.refresh_status()
        self._update_controls()

    def stop_recording(self) -> None:
        """Finish the protocol and labels, then close the file off the GUI thread."""
        cap = self.capture
        if cap is None or not cap.recording or self._busy:
            return
        self.protocol.stop()
        self.labels.release_all()
        self._busy = True
        w = self.pool.start(cap.stop_recording)
        w.signals.returned.connect(self._on_recording_closed)
        w.signals.errored.connect(lambda e: self.banner.show_message(f"Error closing the file: {e}", "error"))
        w.signals.finished.connect(self._job_done)
        self.status_message.emit("Closing the session file…")
        self._update_controls()

    def _on_recording_closed(self, path) -> None:
        if path is None:
            return
        self.status_message.emit(f"Saved {path}")
        self.file_info.setText(f"saved {Path(path).name}")
        self.recording_stopped.emit(str(path))

    def _on_protocol_holding(self, name: str) -> None:
        self._protocol_holding = name
        self._demo_perform()

    def _demo_perform(self) -> None:
        """With a synthetic subject, make it perform the newest held label that names a pose (the
        protocol's prompt counts too); back to its own schedule when none is held."""
        subj = getattr(self.capture, "subject", None)
        if subj is None or not hasattr(subj, "perform"):
            return
        names = self.labels.active + ([self._protocol_holding] if self._protocol_holding else [])
        want = None
        for n in reversed(names):
            key = n.strip().lower().replace("-", "_")
            if key == self._demo_pose or subj.perform(key):
                want = key
                break
        if want is None and self._demo_pose is not None:
            subj.perform(None)
        self._demo_pose = want

    # -- live display ------------------------------------------------------------------------------
    @property
    def redraw_fps(self) -> float:
        """Measured display redraws per second (the bench reads this)."""
        return self.fps.fps

    def redraw(self) -> None:
        """Display tick: pull the newest data and update the plots (GUI thread, ~DISPLAY_HZ)."""
        cap = self.capture
        if cap is None:
            return
        t, x = cap.emg_buffer.latest(self.plot.width_s)
        self.plot.update_data(t, x)
        self.fps.tick()
        tnow = time.monotonic()
        fs = cap.emg.sample_rate_hz
        if len(t) and tnow - self._last_spec > 0.25:
            self._last_spec = tnow
            ch = min(self.spectrogram.channel, x.shape[1] - 1)
            self.spectrogram.update_data(x[:, ch], fs, self.plot.width_s)
        if len(t) and tnow - self._last_quality > 0.5:
            self._last_quality = tnow
            self.plot.set_quality(assess(x[-int(fs):], self._thresholds))
        frame = cap.latest_frame()
        if frame is not None and frame.index != self.camera_view.frame_index:
            lm = cap.latest_landmarks()
            if lm is not None and lm.frame_index < frame.index - 3:
                lm = None  # too old to draw over this frame
            info = f"cam {self.bridge.rate('frame'):.0f} fps · landmarks {self.bridge.rate('landmarks'):.0f} fps"
            self.camera_view.set_frame(frame, lm, info)

    def refresh_status(self) -> None:
        cap = self.capture
        if cap is None:
            return
        st = cap.status()
        e = st["emg"]
        state = e.state.value if isinstance(e.state, DeviceState) else str(e.state)
        batt = f" · battery {e.battery_pct} %" if e.battery_pct is not None else ""
        err = f"<br><span style='color:#e63946'>{_esc(e.last_error)}</span>" if e.last_error and state in ("error", "reconnecting") else ""
        self.emg_status.setText(
            f"<b>{cap.emg.kind}</b> {_pill(state)} {e.measured_rate_hz:.1f} Hz<br>"
            f"lost {e.samples_lost} · bad packets {e.bad_packets} · reconnects {e.reconnects}{batt}{err}")
        c = st.get("camera")
        if c is None:
            self.cam_status.setText("<b>camera</b> none")
        else:
            cerr = f"<br><span style='color:#e63946'>{_esc(c.get('last_error'))}</span>" if c.get("last_error") else ""
            self.cam_status.setText(f"<b>camera</b> {_pill(str(c.get('state', '?')))} "
                                    f"{float(c.get('measured_fps', 0)):.1f} fps · {c.get('frames', 0)} frames{cerr}")
            if c.get("state") == "error" and self.camera_view.frame_index < 0:
                self.camera_view.set_message(f"Camera error: {c.get('last_error', '')}")
        lm = st.get("landmarks")
        if lm is None:
            self.lm_status.setText("<b>landmarks</b> off")
        else:
            drops = lm.get("dropped", lm.get("drops", 0))
            lat = lm.get("latency_ms", lm.get("mean_latency_ms"))
            lat_s = f" · latency {float(lat):.0f} ms" if lat is not None else ""
            self.lm_status.setText(f"<b>landmarks</b> {lm.get('mode', '')} {self.bridge.rate('landmarks'):.0f} fps"
                                   f" · dropped {drops}{lat_s}")
        rec = st.get("recording")
        if rec is not None:
            el = float(rec.get("elapsed_s", 0.0))
            self.elapsed.setText(f"{int(el // 60):02d}:{el % 60:04.1f}")
            mb = float(rec.get("bytes", 0)) / 1e6
            name = Path(rec.get("path", "")).name
            self.file_info.setText(f"{'PAUSED · ' if rec.get('paused') else ''}{name}<br>{mb:.2f} MB · "
                                   f"{rec.get('samples', 0)} samples · {rec.get('frames', 0)} frames")
            self.file_info.setTextFormat(QtCore.Qt.TextFormat.RichText)
        # The summary goes to the window's permanent status field (MainWindow._show_fps), not the
        # message area, so "Saved …" and other messages stay readable.
        self._update_controls()

    def summary(self) -> str:
        cap = self.capture
        if cap is None:
            return "Not connected"
        rec = "● REC" if cap.recording and not cap.paused else ("PAUSED" if cap.recording else "idle")
        return f"{rec} · EMG {cap.emg.status().measured_rate_hz:.0f} Hz · display {self.redraw_fps:.0f} fps"

    # -- capture events (GUI thread, via the bridge) ----------------------------------------------
    def _on_capture_error(self, msg: str) -> None:
        self.banner.show_message(msg, "error")
        self.status_message.emit(msg)
        self._update_controls()

    def _on_recording_state(self, _state: str) -> None:
        self._update_controls()

    def _on_device_state(self, state: DeviceState) -> None:
        if state is DeviceState.RECONNECTING:
            self.banner.show_message("Armband connection lost: reconnecting… (recording continues; the gap is "
                                     "recorded)", "warn")
        elif state is DeviceState.STREAMING and self.banner.isVisible() and "reconnecting" in self.banner.label.text():
            self.banner.show_message("Armband reconnected.", "info")
            QtCore.QTimer.singleShot(4000, self._hide_info_banner)
        self._update_controls()

    def _hide_info_banner(self) -> None:
        if self.banner.label.text() == "Armband reconnected.":
            self.banner.hide()

    def _update_controls(self) -> None:
        cap = self.capture
        connected = cap is not None
        rec = connected and cap.recording
        self.connect_btn.setText("Disconnect" if connected else ("Connecting…" if self._busy else "Connect"))
        self.connect_btn.setEnabled(not self._busy)
        self.act_connect.setText("Disconnect" if connected else "Connect")
        self.act_connect.setEnabled(not self._busy)
        for w in (self.emg_kind, self.emg_arg, self.emg_browse, self.realism, self.cam_kind, self.cam_arg,
                  self.cam_browse):
            w.setEnabled(not connected and not self._busy)
        if not connected and not self._busy:
            self._on_emg_kind_enable()
        not_ready = emg_not_ready(cap.emg.status()) if connected and not rec else ""
        if connected:
            # An armband that failed shows why on the empty traces, not just in the Sources box.
            if not_ready and self.plot.n_points == 0:
                if not self.plot.message:
                    state = cap.emg.status().state
                    state = state.value if isinstance(state, DeviceState) else str(state)
                    self.plot.set_message(f"No EMG: the armband is {_state_words(state)} (the reason is above "
                                          "and under Sources). Disconnect, fix it, and Connect again.")
            elif self.plot.message and self.plot.n_points > 0:
                self.plot.set_message("")
        for w in (self.record_btn, self.act_record):
            w.setEnabled(connected and not rec and not self._busy and not not_ready)
        self.record_btn.setToolTip(f"Cannot record: {not_ready}" if not_ready else "Start recording (Ctrl+R)")
        for w in (self.pause_btn, self.act_pause, self.stop_btn, self.act_stop):
            w.setEnabled(rec and not self._busy)
        paused = rec and cap.paused
        self.pause_btn.setText("Resume" if paused else "Pause")
        self.act_pause.setText("Resume" if paused else "Pause")
        # Red only while Record can be pressed: a red disabled button read as "ready".
        self.record_btn.setStyleSheet("QPushButton#recordButton:enabled { color: #ff5d5d; font-weight: bold; }"
                                      " QPushButton#recordButton:disabled { color: #6c757d; }")

    def _on_emg_kind_enable(self) -> None:
        needs = self.emg_kind.currentData() != "synthetic"
        self.emg_arg.setEnabled(needs)
        self.emg_browse.setEnabled(needs)
        cam = self.cam_kind.currentData()
        self.cam_arg.setEnabled(cam in ("webcam", "file"))
        self.cam_browse.setEnabled(cam == "file")

    # -- shutdown ------------------------------------------------------------------------------------
    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop timers, the protocol, labels and the capture (finishing a recording), and join every
        worker. Blocks (up to timeout_s): called once, when the window closes."""
        if self._closing:
            return
        self._closing = True
        self.display_timer.stop()
        self.status_timer.stop()
        self.protocol.stop()
        self.labels.release_all()
        self.labels.dispose()
        self.pool.shutdown(timeout_s)
        cap, self.capture = self.capture, None
        self.bridge.detach()
        with self._lock:
            orphans, self._orphans = self._orphans, []
        for c in [cap, *orphans]:
            if c is not None:
                try:
                    c.stop()
                except Exception as e:  # closing must go on; say what failed
                    log.error("stopping capture on close: %s", e)


def _stop_capture(cap):
    """Worker job: stop the capture; returns the path of the recording it finished, if any."""
    path = cap.path if cap.recording else None
    cap.stop()
    return path


def _empty():
    import numpy as np
    return np.zeros(0), np.zeros((0, 1), np.float32)


def _pill(state: str) -> str:
    color = _STATE_COLORS.get(state, "#adb5bd")
    return f"<span style='color:{color}; font-weight:bold'>{_esc(state)}</span>"


def _esc(text) -> str:
    return (str(text or "")).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
