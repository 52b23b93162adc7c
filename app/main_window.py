"""The main window: tabs Capture | Review | Library, menus, toolbar, status bar, remembered geometry."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from recorder import __version__

from .capture_view import CaptureView
from .settings import Settings

log = logging.getLogger(__name__)


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
        self.setWindowTitle(f"emgrec {__version__}")
        self.capture_view = CaptureView(self.settings)
        self.tabs = QtWidgets.QTabWidget(documentMode=True)
        self.tabs.addTab(self.capture_view, "Capture")
        self.review = self._optional_tab("app.review", "ReviewView", "Review")
        self.library = self._optional_tab("app.library", "LibraryView", "Library")
        self.setCentralWidget(self.tabs)
        if hasattr(self.library, "open_requested"):
            self.library.open_requested.connect(self.open_session)
        for tab in (self.review, self.library):
            if hasattr(tab, "message"):
                tab.message.connect(self._status)
        out = self.settings.output_dir()
        if out.is_dir() and hasattr(self.library, "set_folder"):
            self.library.set_folder(out)
        self.capture_view.recording_stopped.connect(self._on_recording_saved)
        self.capture_view.status_message.connect(self._status)
        self.tabs.currentChanged.connect(self._on_tab)

        self.fps_label = QtWidgets.QLabel()
        self.statusBar().addPermanentWidget(self.fps_label)
        self._build_menus()
        g = self.settings.geometry()
        if g is None or not self.restoreGeometry(g):
            self.resize(1600, 950)
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
        quit_act = file_menu.addAction("Quit", self.close)
        quit_act.setShortcut(QtGui.QKeySequence("Ctrl+Q"))
        cap_menu = mb.addMenu("&Capture")
        for a in (cv.act_connect, None, cv.act_record, cv.act_pause, cv.act_stop):
            cap_menu.addSeparator() if a is None else cap_menu.addAction(a)
        view_menu = mb.addMenu("&View")
        for i, name in enumerate(("Capture", "Review", "Library")):
            a = view_menu.addAction(name, lambda i=i: self.tabs.setCurrentIndex(i))
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

    # -- slots --------------------------------------------------------------------------------------
    def _status(self, text: str) -> None:
        self.statusBar().showMessage(text)

    def _show_fps(self) -> None:
        cv = self.capture_view
        if cv.capture is not None:
            self.fps_label.setText(f"display {cv.redraw_fps:.0f} fps")
        else:
            self.fps_label.setText("")

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

    def _on_recording_saved(self, path: str) -> None:
        lib = self.library
        if not hasattr(lib, "set_folder"):
            return
        folder = Path(path).parent
        if lib.folder != folder:
            lib.set_folder(folder)
        else:
            lib.refresh()

    def _show_keys(self) -> None:
        keys = "\n".join(f"{g.key or '—'}\t{g.name}" for g in self.capture_view.labels.gestures)
        QtWidgets.QMessageBox.information(
            self, "Keyboard shortcuts",
            "Ctrl+K\tconnect / disconnect\nCtrl+R\trecord\nCtrl+P\tpause / resume\nCtrl+S\tstop and save\n"
            f"Ctrl+1..3\ttabs\n\nLabels (hold the key, or toggle mode):\n{keys}\n\nEnter in the marker box adds a marker.")

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        maybe_close = getattr(self.review, "maybe_close", None)
        if callable(maybe_close) and not maybe_close():  # unsaved label edits: user cancelled
            event.ignore()
            return
        self.settings.set_geometry(self.saveGeometry())
        self.capture_view.shutdown()
        for tab in (self.review, self.library):
            close = getattr(tab, "shutdown", None)
            if callable(close):
                close()
        self._fps_timer.stop()
        self.settings.sync()
        super().closeEvent(event)
