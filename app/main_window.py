"""The main window: tabs Capture | Review | Library, menus, toolbar, status bar, remembered geometry."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from recorder import __version__

from app.capture.view import CaptureView
from app.train.live_preview import LivePreview
from app.qt.settings import Settings
from app.train.view import TrainView

log = logging.getLogger(__name__)

#: The Train tab's lists (architectures, sessions, models; no torch) load this long after start-up,
#: or when that tab is shown.
ENGINE_DELAY_MS = 3000


def apply_theme(app: QtWidgets.QApplication) -> None:
    """Fusion style with a dark palette (matches the dark plots)."""
    app.setStyle("Fusion")
    p = QtGui.QPalette()
    C = QtGui.QColor
    roles = QtGui.QPalette.ColorRole
    for role, color in [(roles.Window, "#1b1f24"), (roles.WindowText, "#e6e6e6"), (roles.Base, "#12161a"),
                        (roles.AlternateBase, "#1f252b"), (roles.ToolTipBase, "#2b3138"),
                        (roles.ToolTipText, "#e6e6e6"), (roles.Text, "#e6e6e6"), (roles.Button, "#262c33"),
                        (roles.ButtonText, "#e6e6e6"), (roles.BrightText, "#ff5d5d"), (roles.Highlight, "#3a86ff"),
                        (roles.HighlightedText, "#ffffff"), (roles.Link, "#4cc9f0"),
                        (roles.PlaceholderText, "#6c757d")]:
        p.setColor(role, C(color))
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        p.setColor(QtGui.QPalette.ColorGroup.Disabled, role, C("#6c757d"))
    app.setPalette(p)
    app.setStyleSheet("QGroupBox { font-weight: bold; border: 1px solid #2f363d; border-radius: 6px;"
                      " margin-top: 10px; padding-top: 6px; }"
                      " QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; }"
                      " QTabBar::tab { padding: 6px 18px; }")


def _placeholder(text: str) -> QtWidgets.QWidget:
    w = QtWidgets.QLabel(text)
    w.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
    w.setStyleSheet("color: #6c757d; font-size: 16px;")
    return w


class MainWindow(QtWidgets.QMainWindow):
    """settings: a :class:`Settings` (tests pass one backed by a temporary INI file)."""

    def __init__(self, settings: Settings | None = None, parent=None):
        super().__init__(parent)
        self.settings = settings or Settings()
        self._closing = False  # set by closeEvent once the close goes ahead
        self.setWindowTitle(f"emgrec {__version__}")
        self.capture_view = CaptureView(self.settings)
        self.tabs = QtWidgets.QTabWidget(documentMode=True)
        self.tabs.addTab(self.capture_view, "Capture")
        self.review = self._optional_tab("app.review.view", "ReviewView", "Review")
        self.library = self._optional_tab("app.review.library", "LibraryView", "Library")
        self.train_view = TrainView(self.settings, load_engine=False)
        self.tabs.addTab(self.train_view, "Train")
        self.train_view.message.connect(self._status)
        # Live model preview over the Capture tab's camera view (model chosen in the toolbar).
        self.live = LivePreview(self.capture_view.camera_view, self)
        self.capture_view.capture_changed.connect(self.live.set_capture)
        # The live model's no-skill banner (hidden unless the loaded model has no skill) above the tabs.
        central = QtWidgets.QWidget()
        cl = QtWidgets.QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(2)
        cl.addWidget(self.live.banner)
        cl.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        if hasattr(self.library, "open_requested"):
            self.library.open_requested.connect(self.open_session)
        if hasattr(self.library, "import_requested"):
            self.library.import_requested.connect(self.show_import_dialog)
            self.library.export_requested.connect(lambda paths: self.show_export_dialog(paths or None))
        self.export_dlg = self.import_dlg = None  # the open Export / Import dialogs (non-modal)
        self.calibrate_dlg = None  # the open Calibrate dialog (non-modal)
        for tab in (self.review, self.library):
            if hasattr(tab, "message"):
                tab.message.connect(self._status)
        out = self.settings.output_dir()
        if out.is_dir() and hasattr(self.library, "set_folder"):
            self.library.set_folder(out)
        if hasattr(self.review, "start_folder"):
            self.review.start_folder = out
        self.capture_view.recording_started.connect(self._on_recording_started)
        self.capture_view.recording_stopped.connect(self._on_recording_saved)
        self.capture_view.status_message.connect(self._status)
        self.tabs.currentChanged.connect(self._on_tab)

        self.fps_label = QtWidgets.QLabel()
        self.statusBar().addPermanentWidget(self.fps_label)
        self._build_menus()
        g = self.settings.geometry()
        if g is None or not self.restoreGeometry(g):
            self.resize(1600, 950)
        # The Train tab's folder scans after the first traces, not before the window.
        self._engine_timer = QtCore.QTimer(self, singleShot=True, interval=ENGINE_DELAY_MS)
        self._engine_timer.timeout.connect(self.train_view.load_engine)
        self._engine_timer.start()
        self._fps_timer = QtCore.QTimer(self)
        self._fps_timer.setInterval(1000)
        self._fps_timer.timeout.connect(self._show_fps)
        self._fps_timer.start()

    def _optional_tab(self, module: str, cls: str, title: str) -> QtWidgets.QWidget:
        """Import a view owned by another module; a labelled placeholder if it is not available."""
        try:
            mod = __import__(module, fromlist=[cls])
            w = getattr(mod, cls)()
        except (ImportError, AttributeError) as e:
            log.warning("%s tab unavailable: %s", title, e)
            w = _placeholder(f"{title} view not available in this build ({e})")
        self.tabs.addTab(w, title)
        return w

    def _build_menus(self) -> None:
        cv = self.capture_view
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        open_act = file_menu.addAction("Open session…", self._open_dialog)
        open_act.setShortcut(QtGui.QKeySequence.StandardKey.Open)
        file_menu.addSeparator()
        self.act_import = file_menu.addAction("Import…", self.show_import_dialog)
        self.act_import.setShortcut(QtGui.QKeySequence("Ctrl+I"))
        self.act_export = file_menu.addAction("Export…", self.show_export_dialog)
        self.act_export.setShortcut(QtGui.QKeySequence("Ctrl+E"))
        file_menu.addSeparator()
        quit_act = file_menu.addAction("Quit", self.close)
        quit_act.setShortcut(QtGui.QKeySequence("Ctrl+Q"))
        cap_menu = mb.addMenu("&Capture")
        for a in (cv.act_connect, None, cv.act_record, cv.act_pause, cv.act_stop):
            cap_menu.addSeparator() if a is None else cap_menu.addAction(a)
        view_menu = mb.addMenu("&View")
        for i in range(self.tabs.count()):
            a = view_menu.addAction(self.tabs.tabText(i), lambda i=i: self.tabs.setCurrentIndex(i))
            a.setShortcut(QtGui.QKeySequence(f"Ctrl+{i + 1}"))
        help_menu = mb.addMenu("&Help")
        help_menu.addAction("Keyboard shortcuts", self._show_keys)
        help_menu.addAction("About emgrec", lambda: QtWidgets.QMessageBox.about(
            self, "emgrec", f"emgrec {__version__}\nRecord forearm EMG with hand landmarks on one clock."))

        tb = self.addToolBar("Capture")
        tb.setObjectName("captureToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in (cv.act_connect, cv.act_record, cv.act_pause, cv.act_stop):
            tb.addAction(a)
        self._build_model_toolbar()

    def _build_model_toolbar(self) -> None:
        """'Model' chooser for the live preview and its status (error, latency, gesture)."""
        tb = self.addToolBar("Live model")
        tb.setObjectName("liveModelToolbar")
        tb.setMovable(False)
        tb.addWidget(QtWidgets.QLabel(" Live model "))
        self.model_combo = QtWidgets.QComboBox(minimumContentsLength=24)
        self.model_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.addItem("(none)", None)
        self.model_combo.setToolTip("Model drawn over the camera while capturing (trained in the Train tab)")
        self.model_combo.currentIndexChanged.connect(lambda _i: self.live.set_model(self.model_combo.currentData()))
        tb.addWidget(self.model_combo)
        browse = QtWidgets.QToolButton(text="…", toolTip="Choose a model folder")
        browse.clicked.connect(self._browse_model)
        tb.addWidget(browse)
        self.act_calibrate = tb.addAction("Calibrate…", self.show_calibrate_dialog)
        self.act_calibrate.setToolTip("After putting the band on: record with the camera, calibrate the live "
                                      "model to this placement, go live")
        # Short text (details in its tooltip), capped so the toolbar never widens the window.
        self.live.label.setMaximumWidth(520)
        self.live.label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Preferred)
        tb.addWidget(self.live.label)
        self.train_view.models_changed.connect(self._fill_model_combo)
        self.train_view.live_model_requested.connect(self.choose_live_model)

    def _fill_model_combo(self, entries: list) -> None:
        current = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItem("(none)", None)
        for e in entries:
            if not e.get("error"):
                self.model_combo.addItem(f"{e['name']} · {e['headline']}", e["path"])
        i = 0 if current is None else self.model_combo.findData(current)
        if i < 0:
            self.model_combo.addItem(Path(current).name, current)
            i = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(max(0, i))
        self.model_combo.blockSignals(False)

    def choose_live_model(self, path: str | None) -> None:
        """Select a model folder (or None) for the live preview."""
        i = self.model_combo.findData(path)
        if i < 0:
            self.model_combo.addItem(Path(path).name, path)
            i = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(i)

    def _browse_model(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Model folder", self.train_view.model_dir.text())
        if d:
            self.choose_live_model(d)

    # -- slots --------------------------------------------------------------------------------------
    def _status(self, text: str) -> None:
        self.statusBar().showMessage(text)

    def _show_fps(self) -> None:
        cv = self.capture_view
        self.fps_label.setText(cv.summary() if cv.capture is not None else "")

    def _on_tab(self, index: int) -> None:
        # Label hotkeys only act while the Capture tab is shown (Review has its own keys).
        self.capture_view.labels.enabled = self.tabs.widget(index) is self.capture_view

    def _open_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open session", str(self.settings.output_dir()),
                                                        "Session files (*.h5);;All files (*)")
        if path:
            self.open_session(path)

    def open_session(self, path: str) -> None:
        """Show a session file in the Review tab."""
        opener = getattr(self.review, "open_session", None)
        if opener is None:
            self.statusBar().showMessage(f"Review view not available to open {path}")
            return
        # The review view reports unreadable files itself and returns False.
        if opener(path):
            self.tabs.setCurrentWidget(self.review)

    def _on_recording_started(self, path: str) -> None:
        if hasattr(self.review, "recording_path"):
            self.review.recording_path = Path(path)

    def _on_recording_saved(self, path: str, what: str = "recording") -> None:
        """Every tab follows a new session: Library and Train list it (even when the folder did not
        exist at start-up), Review offers it, Open dialogs start in its folder. Not once the window
        is closing: a recording that ends as it closes must not start scans in tabs shut down."""
        if self._closing:
            return
        folder = Path(path).parent
        if hasattr(self.review, "offer_session"):
            if self.review.recording_path is not None and Path(self.review.recording_path) == Path(path):
                self.review.recording_path = None
            self.review.start_folder = folder
            self.review.offer_session(path, what)
        tv = self.train_view
        if Path(tv.session_dir.text()).expanduser() == folder or not Path(tv.session_dir.text()).expanduser().is_dir():
            tv.set_session_folder(folder)
        else:
            tv.add_sessions([path], select=False)
        lib = self.library
        if not hasattr(lib, "set_folder"):
            return
        if lib.folder != folder:
            lib.set_folder(folder)
        else:
            lib.refresh()

    # -- export / import ------------------------------------------------------------------------------
    def _library_folder(self) -> Path:
        folder = getattr(self.library, "folder", None)
        return Path(folder) if folder else self.settings.output_dir()

    def _export_preselection(self) -> list[str]:
        """The library's selection when the Library tab is shown, else the session open in Review,
        else the library's selection."""
        sel = getattr(self.library, "selected_path", lambda: None)()
        review = getattr(self.review, "path", None)
        if sel is not None and (self.tabs.currentWidget() is self.library or review is None):
            return [str(sel)]
        return [str(review)] if review is not None else []

    def show_export_dialog(self, paths: list | None = None):
        """Open the Export dialog (non-modal) with ``paths`` or the current selection; returns it."""
        from app.dialogs.export_dialog import ExportDialog

        if self.export_dlg is not None:
            self.export_dlg.close()
        dlg = ExportDialog(paths if paths is not None else self._export_preselection(), self._library_folder(), self)
        dlg.exported.connect(lambda rs: self._status(f"Exported {len(rs)} file(s) to {rs[0].path.parent}"
                                                     if rs else "Export wrote nothing"))
        self.export_dlg = dlg
        dlg.show()
        return dlg

    def show_import_dialog(self, source=None):
        """Open the Import dialog (non-modal); imports land in the library folder. Returns it."""
        from app.dialogs.import_dialog import ImportDialog

        if self.import_dlg is not None:
            self.import_dlg.close()
        dlg = ImportDialog(self._library_folder(), source, self)
        dlg.imported.connect(self._on_imported)
        dlg.open_requested.connect(self.open_session)
        self.import_dlg = dlg
        dlg.show()
        return dlg

    def show_calibrate_dialog(self, config: dict | None = None):
        """Open the Calibrate dialog (non-modal) for the live model; its result goes live. Returns it.
        config: overrides of the earlier model's training config (tests: fewer epochs)."""
        from app.train.calibrate_dialog import CalibrateDialog

        if self.calibrate_dlg is not None:
            if self.calibrate_dlg.running:
                self.calibrate_dlg.raise_()
                return self.calibrate_dlg
            self.calibrate_dlg.shutdown()
            self.calibrate_dlg.close()
        dlg = CalibrateDialog(self.capture_view, self.model_combo.currentData(),
                              self.train_view.model_dir.text().strip() or ".", self, config=config)
        dlg.calibrated.connect(self._on_calibrated)
        dlg.flow_ended.connect(lambda outcome, msg: self._status(f"Calibration {outcome}: {msg}"))
        self.calibrate_dlg = dlg
        dlg.show()
        return dlg

    def _on_calibrated(self, path: str) -> None:
        self.choose_live_model(path)
        self.train_view.refresh_models(select=path)

    def _on_imported(self, path: str) -> None:
        """Show the new session in the Library tab (the dialog offers "Open in Review")."""
        self._on_recording_saved(path, "import")
        if hasattr(self.library, "select_path") and hasattr(self.library, "scan_finished"):
            def select():
                self.library.scan_finished.disconnect(select)
                self.library.select_path(path)
            self.library.scan_finished.connect(select)
        self._status(f"Imported {Path(path).name}")

    def shortcuts_text(self) -> str:
        """Help > Keyboard shortcuts (tab keys from the tabs there are)."""
        keys = "\n".join(f"{g.key or '—'}\t{g.name}" for g in self.capture_view.labels.gestures)
        tabs = ", ".join(self.tabs.tabText(i) for i in range(self.tabs.count()))
        return ("Ctrl+K\tconnect / disconnect\nCtrl+R\trecord\nCtrl+P\tpause / resume\nCtrl+S\tstop and save\n"
                f"Ctrl+1..{self.tabs.count()}\t{tabs}\nCtrl+O\topen a session\nCtrl+I / Ctrl+E\timport / export\n"
                f"\nLabels (hold the key, or toggle mode):\n{keys}\n\nEnter in the marker box adds a marker.")

    def _show_keys(self) -> None:
        QtWidgets.QMessageBox.information(self, "Keyboard shortcuts", self.shortcuts_text())

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        maybe_close = getattr(self.review, "maybe_close", None)
        if callable(maybe_close) and not maybe_close():  # unsaved label edits: user cancelled
            event.ignore()
            return
        self.settings.set_geometry(self.saveGeometry())
        self._closing = True
        self.live.shutdown()
        for dlg in (self.export_dlg, self.import_dlg, self.calibrate_dlg):
            if dlg is not None:
                dlg.shutdown()
        self.capture_view.shutdown()
        for tab in (self.review, self.library, self.train_view):
            close = getattr(tab, "shutdown", None)
            if callable(close):
                close()
        self._fps_timer.stop()
        self._engine_timer.stop()
        self.settings.sync()
        super().closeEvent(event)
