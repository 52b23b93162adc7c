"""The Capture tab's Subject choice (issue 11): the synthetic armband's realism, realistic by
default, reaches the capture's synthetic subject; --realism from the command line wins and is shown."""

from recorder.sources.synthetic import REALISTIC


def _connect(qtbot, cv, *args):
    with qtbot.waitSignal(cv.capture_changed, timeout=30000):
        if args:
            cv.connect_sources(*args)
        else:
            cv.connect_btn.click()
    return cv.capture


def _disconnect(qtbot, cv):
    with qtbot.waitSignal(cv.capture_changed, timeout=30000):
        cv.disconnect_sources()
    qtbot.waitUntil(lambda: not cv._busy, timeout=30000)


def test_subject_choice_reaches_the_synthetic_subject(qtbot, make_main_window):
    w = make_main_window()
    cv = w.capture_view
    # Synthetic armband: the Subject list stands where a port would; realistic at first.
    assert cv.emg_kind.currentData() == "synthetic"
    assert cv.realism.isVisibleTo(w) and not cv.emg_arg.isVisibleTo(w)
    assert cv.realism.currentData() == "realistic"
    cap = _connect(qtbot, cv)
    assert cap.subject.realism == REALISTIC and cap.camera.subject is cap.subject
    assert not cv.realism.isEnabled()          # fixed while connected, like the other source choices
    _disconnect(qtbot, cv)

    cv.realism.setCurrentIndex(cv.realism.findData("none"))
    cap = _connect(qtbot, cv)
    assert not any(cap.subject.realism.values()) and cap.camera.subject.camera_latency_s == 0.0
    assert w.settings.realism_choice() == "none"     # remembered for the next start
    _disconnect(qtbot, cv)

    # The command line (`emgrec gui --realism realistic`) wins over the panel, and the panel shows it.
    cap = _connect(qtbot, cv, "synthetic", "synthetic", "realistic")
    assert cap.subject.realism == REALISTIC and cv.realism.currentData() == "realistic"
    _disconnect(qtbot, cv)

    # Another armband: the Subject list makes way for its port field.
    cv.emg_kind.setCurrentIndex(cv.emg_kind.findData("myo"))
    assert cv.emg_arg.isVisibleTo(w) and not cv.realism.isVisibleTo(w)
