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
