"""Other tabs follow a recording (issue 12): a first launch with no sessions folder, then a
recording, fills the Train list and Review offers the new file; a file being recorded opens in
Review read-only and says so."""
import pytest

from .test_capture_view import _connect, window  # noqa: F401  (the real main window fixture)


def test_first_recording_fills_train_and_review_offers_it(qtbot, window, tmp_path):  # noqa: F811
    w, cv = window, window.capture_view
    sessions = tmp_path / "sessions"
    assert not sessions.exists()                      # first launch: the folder is not there yet
    assert w.train_view.session_list.count() == 0
    cap = _connect(qtbot, w)
    assert cv.start_recording()
    path = str(cap.path)
    qtbot.waitUntil(lambda: cap.elapsed_s >= 1.5, timeout=15000)

    # While it is being recorded, Review opens it read-only and says so.
    assert w.review.recording_path is not None
    w.open_session(path)
    assert w.review.read_only and not w.review.read_only_note.isHidden()
    assert "being recorded" in w.review.read_only_note.text()
    assert not w.review.act_add.isEnabled() and w.review.save() is False
    w.tabs.setCurrentWidget(cv)

    with qtbot.waitSignal(w.train_view.sessions_loaded, timeout=30000):
        with qtbot.waitSignal(cv.recording_stopped, timeout=30000):
            cv.stop_recording()
    assert w.train_view.session_paths(all_items=True) == [path]
    assert w.review.offered is not None and str(w.review.offered) == path
    assert not w.review.offer_bar.isHidden() and w.review.offer_button.text() == "Reopen"
    assert w.review.start_folder == sessions
    w.review.offer_button.click()                     # reopen: now complete, editable
    assert not w.review.read_only and w.review.read_only_note.isHidden()
    assert w.review.act_add.isEnabled() and w.review.offer_bar.isHidden()


def test_shortcuts_help_matches_the_tabs(window):  # noqa: F811
    text = window.shortcuts_text()
    assert f"Ctrl+1..{window.tabs.count()}" in text and "Train" in text
    assert window.tabs.count() == 4


def test_demo_subject_performs_the_pressed_gesture(qtbot, window):  # noqa: F811
    """Synthetic demo: holding "point" (key 4) makes the synthetic hand point, EMG and camera
    alike (both come from the subject's pose); releasing returns it to its own schedule."""
    import numpy as np
    from PySide6 import QtCore

    from recorder.core.clock import now
    from recorder.sources.synthetic import POSES

    w, cv = window, window.capture_view
    cap = _connect(qtbot, w)
    qtbot.keyPress(cv.plot, QtCore.Qt.Key.Key_4)
    qtbot.wait(800)                                   # past the 0.5 s transition
    q = cap.subject.pose_params(now())[0]
    assert np.allclose(q[:5], POSES["point"][:5], atol=0.12), q
    frame = cap.latest_frame()
    assert frame is not None and frame.t >= now() - 1.0
    if frame.truth_world_mm is not None:              # the camera draws the commanded hand
        assert np.allclose(frame.truth_world_mm, cap.subject.pose_world_mm(frame.t)[0], atol=1.0)
    qtbot.keyRelease(cv.plot, QtCore.Qt.Key.Key_4)
    qtbot.waitUntil(lambda: cv.labels.active == [], timeout=2000)
    assert cap.subject._commands[-1][1] is None       # back to the schedule
    cv.protocol.holding.emit("fist")                 # a prompted gesture counts too
    assert cap.subject._commands[-1][1] == "fist"
    cv.protocol.holding.emit("")
    assert cap.subject._commands[-1][1] is None


def test_every_tab_says_what_to_do_when_empty(qtbot, window):  # noqa: F811
    w = window
    qtbot.waitUntil(lambda: w.train_view._engine_loaded, timeout=10000)   # deferred after start-up
    assert "Connect" in w.capture_view.plot.message
    assert "Open one" in w.review.frame_view._placeholder
    assert "record" in w.library.status.text()
    assert not w.train_view.sessions_hint.isHidden() and "record one" in w.train_view.sessions_hint.text()
    qtbot.waitUntil(lambda: not w.train_view.models_hint.isHidden(), timeout=20000)
    assert "press Train" in w.train_view.models_hint.text()
