"""The whole loop a user runs in the window (issue 'Done when'): start on the synthetic devices,
record 5 s with a held label, stop, reopen the session in Review, move the label, undo, move it
again, save, and check the file: labels changed, raw data untouched."""
import numpy as np
import pytest
from PySide6 import QtCore

from recorder.session.format import SessionReader

from .test_capture_view import _connect, window  # noqa: F401  (the real main window fixture)


def test_record_review_move_undo_save(qtbot, window):  # noqa: F811
    w, cv = window, window.capture_view
    cap = _connect(qtbot, w)
    cv.act_record.trigger()
    assert cap.recording
    qtbot.wait(1000)
    qtbot.keyPress(cv.plot, QtCore.Qt.Key.Key_2)        # hold "fist" ...
    qtbot.wait(1500)
    qtbot.keyRelease(cv.plot, QtCore.Qt.Key.Key_2)      # ... for about 1.5 s
    qtbot.waitUntil(lambda: cap.elapsed_s >= 5.0, timeout=15000)
    with qtbot.waitSignal(cv.recording_stopped, timeout=30000) as stopped:
        cv.act_stop.trigger()
    path = stopped.args[0]
    with SessionReader(path) as r:
        (start0, end0, name0), = r.labels
        raw_before = np.asarray(r.emg_data[:]).copy()
        t_before = np.asarray(r.emg_t).copy()
    assert name0 == "fist" and end0 - start0 == pytest.approx(1.5, abs=0.3)

    w.open_session(path)
    view = w.review
    assert w.tabs.currentWidget() is view
    model, lane = view.model, view.timeline.lane
    seg, = model.segments()
    item = lane.items[seg.id]
    item.setRegion((seg.start_s + 0.5, seg.end_s + 0.5))   # what a finished drag does
    item.sigRegionChangeFinished.emit(item)
    assert model.segment(seg.id).start_s == pytest.approx(start0 + 0.5)
    view.act_undo.trigger()
    assert model.segment(seg.id).start_s == pytest.approx(start0)
    item = lane.items[seg.id]
    item.setRegion((seg.start_s - 0.25, seg.end_s - 0.25))
    item.sigRegionChangeFinished.emit(item)
    assert view.save()

    with SessionReader(path) as r:
        (start1, end1, name1), = r.labels
        assert name1 == "fist"
        assert start1 == pytest.approx(start0 - 0.25) and end1 == pytest.approx(end0 - 0.25)
        assert np.array_equal(np.asarray(r.emg_data[:]), raw_before)
        assert np.array_equal(np.asarray(r.emg_t), t_before)
