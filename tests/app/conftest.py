"""Shared pytest-qt fixtures for the GUI tests."""
from __future__ import annotations

import threading

import pytest


def live_threads() -> set[threading.Thread]:
    # QThreadPool threads that ran Python code appear as _DummyThread; they belong to Qt's pool.
    # The one-shot scipy.signal import of app.widgets.emg_plot ends by itself (once per process).
    return {t for t in threading.enumerate()
            if not isinstance(t, threading._DummyThread) and t.name != "import-scipy-signal"}


@pytest.fixture
def no_thread_leaks():
    """Fails the test if a Python thread started during it is still alive at teardown. Fixtures
    that own windows depend on this one, so they close theirs first."""
    before = live_threads()
    yield
    leftover = {t for t in live_threads() - before if t.is_alive()}
    assert not leftover, f"threads left running: {[t.name for t in leftover]}"


@pytest.fixture
def make_main_window(qtbot, tmp_path, no_thread_leaks):
    """``make_main_window(size=None, model_dir=None)``: the app's MainWindow on a settings file and
    sessions folder in ``tmp_path``, shown and exposed; closed at teardown."""
    from app.main_window import MainWindow
    from app.qt.settings import Settings
    made = []

    def make(size: tuple[int, int] | None = None, model_dir=None):
        settings = Settings(tmp_path / "settings.ini")
        settings.set_output_dir(tmp_path / "sessions")
        w = MainWindow(settings)
        if model_dir is not None:
            w.train_view.model_dir.setText(str(model_dir))
        qtbot.addWidget(w)
        if size is not None:
            w.resize(*size)
        w.show()
        qtbot.waitExposed(w)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def open_dialog(qtbot, no_thread_leaks):
    """``open_dialog(cls, *args, shutdown_timeout_s=..., **kw)`` shows a dialog for the test; at
    teardown each is closed and its worker pool must finish within its timeout."""
    made = []

    def make(cls, *args, shutdown_timeout_s: float, **kw):
        dlg = cls(*args, **kw)
        qtbot.addWidget(dlg)
        dlg.show()
        made.append((dlg, shutdown_timeout_s))
        return dlg

    yield make
    for dlg, timeout_s in made:
        dlg.close()
        assert dlg.pool.shutdown(timeout_s=timeout_s) and dlg.pool.active_threads() == 0
