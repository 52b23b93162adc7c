"""Export dialog: a short synthetic session exported through the real dialog to HDF5 windows and to
MP4; Cancel (mid-run, two sessions) leaves no file; a clear message for an impossible export."""
import functools
import json
import shutil

import cv2
import h5py
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices

from app.dialogs.export_dialog import ExportDialog
from recorder.session.format import SessionReader
from recorder.imports.synthetic_sessions import make_synthetic_session


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    d = tmp_path_factory.mktemp("export-sessions")
    return make_synthetic_session(d / "synth.h5", duration_s=20, seed=0, camera=True)


@pytest.fixture
def make_dialog(open_dialog):
    return functools.partial(open_dialog, ExportDialog, shutdown_timeout_s=10)


def _run(qtbot, dlg, timeout=30000):
    with qtbot.waitSignal(dlg.exported, timeout=timeout) as sig:
        w = dlg.start_export()
        assert w is not None, dlg.error_label.text()
    assert not dlg.error_label.text()
    return sig.args[0]


def test_export_windows_h5(qtbot, make_dialog, session, tmp_path, monkeypatch):
    dlg = make_dialog([session])
    assert dlg.sessions() == [session]
    # Default: beside the sessions folder, not in it (Library and Train would list it there).
    assert dlg.out_edit.text() == str(session.parent.parent / f"{session.parent.name}-exports" / "synth_windows.h5")
    dlg.set_format("h5")
    dlg.window_ms.setValue(150)
    dlg.split_combo.setCurrentIndex(dlg.split_combo.findData("blocks"))
    out = tmp_path / "out" / "windows.h5"
    dlg.set_output(out)
    seen = []
    dlg.progress.valueChanged.connect(seen.append)
    results = _run(qtbot, dlg)
    assert [r.path for r in results] == [out]
    with SessionReader(session) as r:
        frames_with_hand = int(r.has_hand().sum())
        rate, C = r.sample_rate_hz, len(r.channel_names)
    with h5py.File(out, "r") as f:
        X, Y = f["X"], f["Y"]
        n = X.shape[0]
        assert X.shape[1:] == (round(0.150 * rate), C) and Y.shape == (n, 63)
        assert 0.8 * frames_with_hand < n <= frames_with_hand  # pose windows anchored on frames with a hand
        man = json.loads(f.attrs["manifest"])
        assert man["task"] == "pose" and man["n_windows"] == n and man["split"]["mode"] == "blocks"
        assert {0, 1} <= set(f["split"][:].tolist()) <= {-1, 0, 1, 2}
    assert (tmp_path / "out" / "windows.h5.json").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["windows.h5", "windows.h5.json"]  # no .part left
    text = dlg.result_label.text()
    assert str(out) in text and f"{n} windows" in text and ("kB" in text or "MB" in text)
    assert seen and seen[-1] == dlg.progress.maximum()  # the bar ends full
    # "Open folder": offscreen there is no file manager; check the URL it asks for.
    asked = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: asked.append(url) or True)
    assert dlg.open_folder_button.isVisible()
    qtbot.mouseClick(dlg.open_folder_button, Qt.MouseButton.LeftButton)
    assert [u.toLocalFile() for u in asked] == [str(out.parent)]


def test_export_mp4(qtbot, make_dialog, session, tmp_path):
    dlg = make_dialog([session])
    dlg.set_format("mp4")
    assert dlg.out_edit.text().endswith("synth.mp4") and not dlg.split_combo.isEnabled()
    assert dlg.model_row.isEnabled()
    out = tmp_path / "video.mp4"
    dlg.set_output(out)
    results = _run(qtbot, dlg)
    with SessionReader(session) as r:
        nf = r.n_frames
        h, w = r.frame(0).shape[:2]
    assert results[0].items == nf
    cap = cv2.VideoCapture(str(out))
    try:
        assert cap.isOpened()
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == nf
        assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (w, h)
        ok, img = cap.read()
        assert ok and img.shape == (h, w, 3)
    finally:
        cap.release()
    assert f"{nf} frames" in dlg.result_label.text()
    assert [p.name for p in tmp_path.iterdir()] == ["video.mp4"]


def test_cancel_leaves_nothing(qtbot, make_dialog, session, tmp_path):
    """Two sessions to MP4 in a folder, cancelled while the second is written: the first (already
    complete) file is removed too, and no temporary file stays."""
    second = tmp_path / "second.h5"
    shutil.copy(session, second)
    out = tmp_path / "videos"
    dlg = make_dialog([session, second])
    dlg.set_format("mp4")
    assert dlg.out_edit.text().endswith("export_mp4")  # several sessions: a folder
    dlg.set_output(out)
    w = dlg.start_export()
    # Cancel from the worker thread itself (direct connection) at the first report about the second
    # session, so the moment is deterministic however loaded the machine is.
    w.signals.progress.connect(lambda p: "second" in p.text and w.cancel(), Qt.ConnectionType.DirectConnection)
    qtbot.waitUntil(lambda: w.done and dlg.export_button.isEnabled(), timeout=30000)
    assert w.cancelled and w.error is None
    assert "cancelled" in dlg.status.text().lower()
    assert not out.exists() or list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "videos") == ["second.h5"]
    assert not dlg.results and not dlg.open_folder_button.isVisible()


def test_cancel_button_and_errors(qtbot, make_dialog, session, tmp_path):
    dlg = make_dialog([])
    assert dlg.start_export() is None and "at least one session" in dlg.error_label.text()
    dlg.add_session(session)
    dlg.set_format("mp4")
    dlg.model_edit.setText(str(tmp_path / "no-model"))
    assert dlg.start_export() is None and "Model folder not found" in dlg.error_label.text()
    dlg.model_edit.clear()
    # Pose windows of a session without hands: the engine's ExportError, shown in the dialog.
    nohands = make_synthetic_session(tmp_path / "nohands.h5", duration_s=5, seed=1, hand_dropout=1.0)
    dlg2 = make_dialog([nohands])
    dlg2.set_format("npz")
    dlg2.task_combo.setCurrentIndex(dlg2.task_combo.findData("pose"))
    dlg2.set_output(tmp_path / "x.npz")
    w = dlg2.start_export()
    qtbot.waitUntil(lambda: w.done and dlg2.export_button.isEnabled(), timeout=20000)
    assert dlg2.last_error is not None
    assert "nohands.h5" in dlg2.error_label.text() and "gesture" in dlg2.error_label.text()
    assert not (tmp_path / "x.npz").exists() and not list(tmp_path.glob(".*part"))
    # Cancel button while running: the worker stops and the dialog is usable again.
    dlg.set_output(tmp_path / "c.mp4")
    w = dlg.start_export()
    assert dlg.cancel_button.isEnabled() and not dlg.export_button.isEnabled()
    qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.done and dlg.export_button.isEnabled(), timeout=30000)
    assert w.cancelled and not (tmp_path / "c.mp4").exists()


def test_formats_and_default_names_come_from_the_engine(qtbot, make_dialog, session, tmp_path, monkeypatch):
    import dataclasses

    from recorder.export import files as ex

    dlg = make_dialog([session])
    offered = [(dlg.format_combo.itemData(i), dlg.format_combo.itemText(i)) for i in range(dlg.format_combo.count())]
    assert offered == [(c, ex.TARGETS[c].description) for c in ("h5", "npz", "csv", "mp4")]
    for code, _ in offered:
        dlg.set_format(code)
        assert dlg.out_edit.text() == str(ex.default_output([session], code))
    dlg.add_session(tmp_path / "other.h5")
    dlg.set_format("csv")
    assert dlg.out_edit.text() == str(ex.default_output([session, tmp_path / "other.h5"], "csv"))
    # The result line counts in the table's unit.
    monkeypatch.setitem(ex.TARGETS, "mp4", dataclasses.replace(ex.TARGETS["mp4"], unit="pictures"))
    dlg._job_returned([ex.ExportResult(tmp_path / "x.mp4", "mp4", 3)])
    assert "3 pictures" in dlg.result_label.text()
