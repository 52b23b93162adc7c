"""Library view with real widgets (offscreen): scan in a worker, broken files listed, open, rename,
delete with confirmation, and the generic worker's signals."""

import threading

import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from app.review.library import COLUMNS, LibraryView
from app.qt.workers import Cancelled, WorkerPool
from recorder.core.types import Progress
from recorder.imports.synthetic_sessions import make_synthetic_session


@pytest.fixture(autouse=True)
def dialogs(monkeypatch):
    """Message boxes are recorded and answered by ``dialogs.answer`` (default No); leftovers fail."""

    class Dialogs(list):
        answer = QMessageBox.StandardButton.No

    shown = Dialogs()

    def box(kind):
        def f(parent, title, text, *a, **k):
            shown.append((kind, title, text))
            return shown.answer if kind == "question" else QMessageBox.StandardButton.Ok
        return staticmethod(f)

    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, box(kind))
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("", False)))
    yield shown
    assert not shown, f"unexpected dialogs: {shown}"


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    d = tmp_path_factory.mktemp("lib_src")
    make_synthetic_session(d / "alpha.h5", duration_s=3.0, seed=1, frame_rate=5, hand_dropout=0.5)
    make_synthetic_session(d / "beta.h5", duration_s=2.0, seed=2, frame_rate=5)
    return {p.name: p.read_bytes() for p in d.iterdir()}


@pytest.fixture
def folder(tmp_path, sessions):
    for name, data in sessions.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "corrupt.h5").write_bytes(b"\x89HDF\r\n" + b"\0" * 500)
    return tmp_path


@pytest.fixture
def lib(qtbot, folder):
    v = LibraryView()
    qtbot.addWidget(v)
    v.resize(1000, 400)
    v.show()
    with qtbot.waitSignal(v.scan_finished, timeout=20000):
        v.set_folder(folder)
    yield v
    v.shutdown()
    assert v.pool.active_threads() == 0, "the scan thread outlived the test"


def cell(view, row, col):
    return view.table.item(row, COLUMNS.index(col)).text()


def row_of(view, name):
    return next(r for r in range(view.table.rowCount()) if cell(view, r, "Name") == name)


def test_lists_sessions_and_corrupt_file(lib):
    assert lib.table.rowCount() == 3
    a = row_of(lib, "alpha.h5")
    assert cell(lib, a, "Duration") == "0:03"
    assert cell(lib, a, "Subject") == "synthetic-1"
    assert cell(lib, a, "Hand").endswith("%") and 20 <= int(cell(lib, a, "Hand").split()[0]) <= 80
    assert cell(lib, a, "Labels").split(":")[0].isdigit() and cell(lib, a, "Status") == "ok"
    c = row_of(lib, "corrupt.h5")
    assert cell(lib, c, "Status") and cell(lib, c, "Status") != "ok"
    assert cell(lib, c, "Duration") == "—"
    assert "1 unreadable" in lib.status.text()
    # Sorting by duration is numeric.
    lib.table.sortItems(COLUMNS.index("Duration"))
    assert [cell(lib, r, "Name") for r in range(3)] == ["corrupt.h5", "beta.h5", "alpha.h5"]


def test_open_requests_and_corrupt_refused(lib, qtbot, folder, dialogs):
    lib.select_path(folder / "beta.h5")
    with qtbot.waitSignal(lib.open_requested, timeout=1000) as sig:
        lib.open_button.click()
    assert sig.args == [str(folder / "beta.h5")]
    lib.select_path(folder / "corrupt.h5")
    assert not lib.open_button.isEnabled()
    with qtbot.assertNotEmitted(lib.open_requested):
        lib.open_selected()  # e.g. Return on the row
    assert dialogs.pop()[0] == "warning"


def test_rename_and_delete_with_confirmation(lib, folder, monkeypatch, dialogs, qtbot):
    lib.select_path(folder / "alpha.h5")
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("subject1 run2", True)))
    lib.rename_button.click()
    new = folder / "subject1 run2.h5"
    assert new.exists() and not (folder / "alpha.h5").exists()
    assert lib.selected_path() == new and cell(lib, row_of(lib, new.name), "Duration") == "0:03"

    lib.select_path(folder / "beta.h5")  # rename onto an existing file is refused with a message
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("subject1 run2", True)))
    lib.rename_button.click()
    assert dialogs.pop()[0] == "warning" and (folder / "beta.h5").exists()

    dialogs.answer = QMessageBox.StandardButton.No  # declined: nothing happens
    lib.delete_button.click()
    assert dialogs.pop()[0] == "question" and (folder / "beta.h5").exists()
    dialogs.answer = QMessageBox.StandardButton.Yes  # confirmed
    lib.delete_button.click()
    assert dialogs.pop()[0] == "question"
    assert not (folder / "beta.h5").exists() and lib.table.rowCount() == 2

    with qtbot.waitSignal(lib.scan_finished, timeout=20000):
        lib.refresh_button.click()
    assert sorted(cell(lib, r, "Name") for r in range(lib.table.rowCount())) == ["corrupt.h5", new.name]


def test_missing_folder_reports_error(qtbot, tmp_path):
    v = LibraryView()
    qtbot.addWidget(v)
    with qtbot.waitSignal(v.scan_finished, timeout=5000):
        v.set_folder(tmp_path / "nope")
    assert v.table.rowCount() == 0 and "not found" in v.status.text()
    v.shutdown()


# -- the generic worker ------------------------------------------------------------------------------

def test_worker_signals_progress_result_error_and_cancel(qtbot):
    pool = WorkerPool()
    started = threading.Event()

    def job(n, progress, cancel):
        for k in range(n):
            progress(Progress(k + 1, n, "step"))
        return n * 2

    w = pool.worker(job, 5)
    got, order = [], []
    w.signals.progress.connect(lambda p: got.append((p.done, p.total)))
    for name in ("started", "returned", "finished"):
        getattr(w.signals, name).connect(lambda *a, name=name: order.append((name, a)))
    with qtbot.waitSignal(w.signals.finished, timeout=5000):
        w.start()
    assert order == [("started", ()), ("returned", (10,)), ("finished", ())]
    assert got[-1] == (5, 5) and w.result == 10

    def fails():
        raise ValueError("bad input file x.h5")

    w = pool.worker(fails)
    with qtbot.waitSignal(w.signals.errored, timeout=5000) as sig:
        w.start()
    assert isinstance(sig.args[0], ValueError) and "x.h5" in str(sig.args[0])

    def waits(cancel):
        started.set()
        cancel.wait(10)
        raise Cancelled()

    w = pool.worker(waits).start()
    assert started.wait(5)
    with qtbot.waitSignal(w.signals.aborted, timeout=5000):
        w.cancel()

    # pool.start() queues at the next event-loop turn: connecting right after it misses nothing.
    w = pool.start(lambda: "fast")
    with qtbot.waitSignal(w.signals.returned, timeout=5000) as sig:
        pass
    assert sig.args == ["fast"]

    def gen():
        yield from range(3)

    w = pool.worker(gen)
    seen = []
    w.signals.yielded.connect(seen.append)
    with qtbot.waitSignal(w.signals.finished, timeout=5000):
        w.start()
    assert seen == [0, 1, 2]
    assert pool.shutdown(5) and pool.active_threads() == 0


def test_an_export_in_the_folder_is_not_listed_as_a_session(qtbot, folder, tmp_path):
    """An export's windows file (HDF5, not a session) left among the sessions: neither the Library
    nor the Train list shows it as an "unreadable" session; the Library says it skipped it."""
    import h5py

    from app.qt.settings import Settings
    from app.train.view import TrainView

    with h5py.File(folder / "alpha_windows.h5", "w") as f:
        f.attrs["format"] = "emgrec-windows"
    v = LibraryView()
    qtbot.addWidget(v)
    with qtbot.waitSignal(v.scan_finished, timeout=20000):
        v.set_folder(folder)
    names = [cell(v, r, "Name") for r in range(v.table.rowCount())]
    assert "alpha_windows.h5" not in names and "alpha.h5" in names
    assert "1 other HDF5 file(s) (exports) not listed" in v.status.text()
    v.shutdown()
    tv = TrainView(Settings(tmp_path / "s.ini"))
    qtbot.addWidget(tv)
    with qtbot.waitSignal(tv.sessions_loaded, timeout=20000):
        tv.set_session_folder(folder)
    listed = [str(p) for p in tv.session_paths(all_items=True)]
    assert str(folder / "alpha.h5") in listed and str(folder / "alpha_windows.h5") not in listed
    tv.shutdown()


# -- repair of a crashed session ---------------------------------------------------------------------

def test_repair_a_crashed_session_asks_then_runs_in_a_worker(qtbot, tmp_path, dialogs, crashed_session, short_session,
                                                             session_copy):
    """A crashed (never closed) file offers Repair…: declined, nothing changes; confirmed, the
    engine's repair runs off the GUI thread, the result is shown and the row is no longer "not closed"."""
    from recorder.session.format import SessionReader

    p = crashed_session
    session_copy(short_session, "fine.h5")
    v = LibraryView()
    qtbot.addWidget(v)
    with qtbot.waitSignal(v.scan_finished, timeout=20000):
        v.set_folder(tmp_path)
    assert cell(v, row_of(v, "crashed.h5"), "Status").startswith("not closed (crashed)")
    v.select_path(tmp_path / "fine.h5")
    assert not v.repair_button.isEnabled()  # closed normally: nothing to repair
    v.select_path(p)
    assert v.repair_button.isEnabled()
    before = p.read_bytes()
    dialogs.answer = QMessageBox.StandardButton.No
    assert v.repair_selected() is None
    assert dialogs.pop()[0] == "question" and p.read_bytes() == before

    dialogs.answer = QMessageBox.StandardButton.Yes
    w = v.repair_selected()
    assert w is not None and dialogs.pop()[0] == "question"
    qtbot.waitUntil(lambda: w.done and not v.repair_running and bool(dialogs), timeout=30000)
    kind, title, text = dialogs.pop()
    assert kind == "information" and "crashed.h5: repaired" in text and "3000 samples, 40 frames" in text
    # Finalised; it keeps complete=False (its recorder never stopped), as a file recovered on save.
    assert cell(v, row_of(v, "crashed.h5"), "Status") == "incomplete (recovered on save)"
    assert not v.info_for(p).repairable and not v.repair_button.isEnabled()
    assert "repaired" in v.status.text()
    with SessionReader(p) as r:
        assert not r.opened_swmr and r.n_samples == 3000
    v.shutdown()
    assert v.repair_pool.active_threads() == 0


def test_a_session_being_recorded_shows_recording_and_no_repair(qtbot, tmp_path, dialogs, short_session, session_copy):
    from recorder.session.writelock import WriteLock

    p = session_copy(short_session, "live.h5")
    lock = WriteLock(p, "a recording").acquire("record")  # what a recorder holds while it writes
    try:
        v = LibraryView()
        qtbot.addWidget(v)
        with qtbot.waitSignal(v.scan_finished, timeout=20000):
            v.set_folder(tmp_path)
        assert cell(v, row_of(v, "live.h5"), "Status") == "recording"
        v.select_path(p)
        assert not v.repair_button.isEnabled()
        assert v.repair_selected() is None  # e.g. called anyway: refused with a message, file untouched
        kind, _, text = dialogs.pop()
        assert kind == "information" and "being recorded" in text
        v.shutdown()
    finally:
        lock.release()


def test_repair_refused_by_the_engine_is_shown(qtbot, tmp_path, dialogs, crashed_session):
    """A writer that took the file after the scan: the engine refuses, the error names the file."""
    from recorder.session.writelock import WriteLock

    p = crashed_session
    v = LibraryView()
    qtbot.addWidget(v)
    with qtbot.waitSignal(v.scan_finished, timeout=20000):
        v.set_folder(tmp_path)
    v.select_path(p)
    before = p.read_bytes()
    lock = WriteLock(p, "a recording").acquire("record")
    try:
        dialogs.answer = QMessageBox.StandardButton.Yes
        w = v.repair_selected()
        assert dialogs.pop()[0] == "question"
        qtbot.waitUntil(lambda: w.done and not v.repair_running and bool(dialogs), timeout=30000)
        kind, title, text = dialogs.pop()
        assert kind == "warning" and "crashed.h5" in text and "open for writing" in text
        assert "Cannot repair crashed.h5" in v.status.text() and p.read_bytes() == before
    finally:
        lock.release()
    v.shutdown()



def test_a_recording_saved_after_the_window_closed_starts_no_scan(qtbot, make_main_window, tmp_path):
    """A recording stopped just before the window closes says 'saved' from a queued signal that can
    arrive after closeEvent: no tab may start work after its shutdown (such a library scan outlived
    its window and held the next test's GUI thread under Xvfb)."""
    w = make_main_window()
    w.library.set_folder(tmp_path)
    qtbot.waitUntil(lambda: not w.library.pool.busy, timeout=10000)
    scans = []
    w.library.pool.submit = lambda worker, _s=w.library.pool.submit: scans.append(worker) or _s(worker)
    w.close()
    w.capture_view.recording_stopped.emit(str(tmp_path / "late.h5"))   # as the queued signal would
    qtbot.wait(300)
    assert scans == [] and w.library.refresh() is None and not w.library.pool.busy
