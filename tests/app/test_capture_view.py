"""The real main window on synthetic devices: connect, live plot, record with a held hotkey label,
stop, and check the session file. Also: failures show a banner and leave nothing running."""

import numpy as np
import pytest
from PySide6 import QtCore

from app.qt.settings import Settings
from recorder.session.format import SessionReader


@pytest.fixture
def window(make_main_window):
    return make_main_window()


def _connect(qtbot, w, emg=None, camera=None, timeout=30000):
    cv = w.capture_view
    with qtbot.waitSignal(cv.capture_changed, timeout=timeout):
        if emg is None:
            cv.connect_btn.click()  # the panel's defaults: Synthetic armband, synthetic camera
        else:
            cv.connect_sources(emg, camera)
    return cv.capture


def test_record_with_held_label(qtbot, window, tmp_path):
    w, cv = window, window.capture_view
    cap = _connect(qtbot, w)
    assert cap is not None and cap.emg.n_channels == 8 and cap.camera is not None
    # The plot pulls from the ring buffer and redraws on its timer.
    qtbot.waitUntil(lambda: cv.plot.n_points > 100, timeout=10000)
    qtbot.waitUntil(lambda: cv.camera_view.frame_index >= 0, timeout=10000)
    qtbot.waitUntil(lambda: cv.fps.count > 20, timeout=10000)
    assert cv.redraw_fps > 5

    # A folder that cannot be created: a clear banner, no recording, nothing crashes.
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cv.out_dir.setText(str(blocker / "sub"))
    cv.act_record.trigger()
    assert not cap.recording and cv.banner.isVisible() and "Cannot record" in cv.banner.label.text()

    cv.out_dir.setText(str(tmp_path / "sessions"))
    cv.subject.setText("S01")
    cv.placement.setText("logo up, 4 cm below elbow")
    cv.notes.setPlainText("pytest run")
    cv.act_record.trigger()
    assert cap.recording
    t_rec = cap.t0
    qtbot.wait(1000)
    qtbot.keyPress(cv.plot, QtCore.Qt.Key.Key_2)       # "fist" held...
    t_on = cap.elapsed_s
    assert cv.labels.active == ["fist"]
    qtbot.wait(2000)
    qtbot.keyRelease(cv.plot, QtCore.Qt.Key.Key_2)     # ...and released
    t_off = cap.elapsed_s
    qtbot.waitUntil(lambda: cv.labels.active == [], timeout=2000)   # the release is held back briefly
    qtbot.keyClicks(cv.label_panel.marker, "electrode check")
    qtbot.keyClick(cv.label_panel.marker, QtCore.Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: cap.elapsed_s >= 5.0, timeout=10000)
    cv.refresh_status()
    assert "MB" in cv.file_info.text()
    with qtbot.waitSignal(cv.recording_stopped, timeout=15000) as sig:
        cv.act_stop.trigger()
    path = sig.args[0]
    assert not cap.recording

    with SessionReader(path) as r:
        assert r.duration_s == pytest.approx(5.0, abs=0.6)
        assert r.sample_rate_hz == 200
        n = len(r.emg_t)
        assert n == pytest.approx(5.0 * 200, rel=0.15)
        assert np.asarray(r.emg_data[: n]).std() > 0
        assert len(r.video_t) > 50                     # ~30 fps synthetic camera
        assert np.isfinite(np.asarray(r.landmarks_world)).any()
        labels = [(s, e, name) for s, e, name in r.labels if name == "fist"]
        assert len(labels) == 1
        s, e, _ = labels[0]
        assert s == pytest.approx(t_on, abs=0.3) and e == pytest.approx(t_off, abs=0.3)
        assert e - s == pytest.approx(2.0, abs=0.4)
        assert [m[1] for m in r.markers] == ["electrode check"]
        a = r.attrs
        assert a["subject"] == "S01" and a["notes"] == "pytest run" and a["hand"] == "right"
        assert a["placement"] == "logo up, 4 cm below elbow"
        assert a["t0_host_s"] == pytest.approx(t_rec)
    assert path.startswith(str(tmp_path / "sessions" / "S01_"))

    # Choices and geometry are remembered for the next start.
    w.close()
    s2 = Settings(tmp_path / "settings.ini")
    assert s2.emg_choice()["kind"] == "synthetic" and s2.camera_choice()["kind"] == "synthetic"
    assert s2.geometry() is not None and s2.metadata()["subject"] == "S01"


def test_bad_port_shows_banner_and_leaves_nothing_running(qtbot, window):
    cv = window.capture_view
    cv.connect_sources("cyton:/dev/does-not-exist", "none")
    qtbot.waitUntil(lambda: cv.banner.isVisible() or cv.capture is not None, timeout=60000)
    if cv.capture is not None:
        # The driver reports a missing port from its thread: the status shows the error.
        qtbot.waitUntil(lambda: "error" in cv.emg_status.text(), timeout=10000)
        assert cv.banner.isVisible()
    assert "does-not-exist" in cv.banner.label.text()


def test_record_without_storing_images(qtbot, window):
    """The 'Store camera images' box off: frames with times and landmarks, no JPEG bytes."""
    w, cv = window, window.capture_view
    cap = _connect(qtbot, w)
    cv.store_images.setChecked(False)
    cv.act_record.trigger()
    assert cap.recording
    qtbot.waitUntil(lambda: cap.elapsed_s >= 2.0, timeout=10000)
    cv.act_stop.trigger()
    qtbot.waitUntil(lambda: not cap.recording, timeout=10000)
    with SessionReader(cv.last_path) as r:
        assert r.n_frames > 10 and not r.has_image().any() and r.has_hand().sum() > 0
        assert r.attrs["video_storage"] == "none"


def test_failed_armband_refuses_to_record(qtbot, window, tmp_path):
    """`emgrec gui --emg myo:/dev/does-not-exist`: the panel shows the Myo (not the last choice),
    Record is refused (no video-only session), the empty spectrogram has a sane axis."""
    cv = window.capture_view
    cap = _connect(qtbot, window, "myo:/dev/does-not-exist", "synthetic")
    assert cv.emg_kind.currentData() == "myo" and cv.emg_arg.currentText() == "/dev/does-not-exist"
    qtbot.waitUntil(lambda: "error" in cv.emg_status.text(), timeout=10000)
    assert not cv.record_btn.isEnabled() and "does-not-exist" in cv.record_btn.toolTip()
    assert cv.start_recording() is False
    assert not cap.recording and "Not recording" in cv.banner.label.text()
    assert not (tmp_path / "sessions").exists() or not list((tmp_path / "sessions").iterdir())
    yr = cv.spectrogram.plot.viewRange()[1]
    assert yr[0] == pytest.approx(0) and yr[1] == pytest.approx(100)      # 0 .. fs/2 of the Myo
    assert not cv.spectrogram.plot.getAxis("left").autoSIPrefix
