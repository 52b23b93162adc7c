"""Review view with real widgets (offscreen): scrub, edit labels through the drag code path, undo/redo,
save, unsaved-changes prompt, playback, lazy EMG, and a MediaPipe re-run with cancel."""

import h5py
import numpy as np
import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from app.review.view import ReviewView
from app.review.timeline import minmax_downsample
from recorder.session.format import SessionReader
from recorder.imports.synthetic_sessions import make_synthetic_session


def _raw(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][:].tobytes() for k in ("emg/data", "emg/t", "video/jpeg", "video/t")}


@pytest.fixture(scope="module")
def camera_session(tmp_path_factory):
    """6 s with rendered hand frames at 10 fps (MediaPipe can find the hand in them)."""
    return make_synthetic_session(tmp_path_factory.mktemp("rv") / "cam.h5", duration_s=6.0, seed=3, camera=True,
                                  frame_rate=10.0, frame_size=(320, 240))


@pytest.fixture
def session(tmp_path, camera_session):
    p = tmp_path / "s.h5"
    p.write_bytes(camera_session.read_bytes())
    return p


@pytest.fixture(autouse=True)
def dialogs(monkeypatch):
    """No modal dialog may block a test: message boxes are recorded (and answered Cancel), input
    dialogs answered 'cancelled'. A test that expects a box pops it from the list; any left over
    fails the test."""
    shown = []

    def box(kind, answer):
        def f(parent, title, text, *a, **k):
            shown.append((kind, title, text))
            return answer
        return staticmethod(f)

    for kind in ("critical", "warning", "information"):
        monkeypatch.setattr(QMessageBox, kind, box(kind, QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "question", box("question", QMessageBox.StandardButton.Cancel))
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("", False)))
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda *a, **k: ("", False)))
    yield shown
    assert not shown, f"unexpected dialogs: {shown}"


@pytest.fixture
def view(qtbot):
    v = ReviewView()
    qtbot.addWidget(v)
    v.resize(1200, 700)
    v.show()
    yield v
    v.shutdown()
    assert v.pool.active_threads() == 0, "a worker thread outlived the test"


def test_open_scrub_and_frame(view, session):
    assert view.open_session(session)
    r = view.reader
    assert len(view.timeline.lane.items) == len(r.labels) > 0
    assert view.label_list.topLevelItemCount() == len(r.labels)
    view.set_time(2.04)
    i = view.frame_index_at(2.04)
    assert i == int(np.argmin(np.abs(r.video_t - 2.04)))
    assert view.frame_view._image is not None and view.frame_view._image.width() == 320
    assert view.timeline.cursor_s == pytest.approx(2.04)
    assert view.slider.value() == 204
    view.slider.setValue(350)  # the slider drives the cursor too
    assert view.timeline.cursor_s == pytest.approx(3.5)
    view.timeline.cursors[2].setValue(1.0)  # dragging a cursor line moves every lane
    assert view.time_s == pytest.approx(1.0) and view.slider.value() == 100
    assert all(c.value() == pytest.approx(1.0) for c in view.timeline.cursors)


def test_edit_undo_redo_rename_delete_save(view, session, monkeypatch):
    before = _raw(session)
    view.open_session(session)
    lane, model = view.timeline.lane, view.model
    seg = model.segments()[1]
    item = lane.items[seg.id]

    # Move: exactly what a finished drag of the region body does.
    item.setRegion((seg.start_s + 0.3, seg.end_s + 0.3))
    item.sigRegionChangeFinished.emit(item)
    moved = model.segment(seg.id)
    assert moved.start_s == pytest.approx(seg.start_s + 0.3) and moved.duration_s == pytest.approx(seg.duration_s)
    assert model.dirty and view.act_save.isEnabled() and view.act_undo.isEnabled()
    assert lane.selected_id == seg.id

    # Resize: a finished drag of the right edge line.
    edge = item.lines[1]
    edge.setValue(moved.end_s + 0.5)
    edge.sigPositionChangeFinished.emit(edge)
    assert model.segment(seg.id).end_s == pytest.approx(moved.end_s + 0.5)
    assert model.undo_text().startswith("Resize")

    view.act_undo.trigger()
    view.act_undo.trigger()
    assert model.segment(seg.id) == seg and item.getRegion() == pytest.approx((seg.start_s, seg.end_s))
    assert not model.dirty and not view.act_save.isEnabled()
    view.act_redo.trigger()
    assert item.getRegion() == pytest.approx((seg.start_s + 0.3, seg.end_s + 0.3))

    # Rename through the double-click path (dialog answered).
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda *a, **k: ("grip", True)))
    item.sigDoubleClicked.emit(item)
    assert model.segment(seg.id).name == "grip" and item.text.toPlainText() == "grip"
    assert "grip" in [view.label_list.topLevelItem(k).text(0) for k in range(view.label_list.topLevelItemCount())]

    # Delete the selected one, then undo and redo the delete.
    n = len(model.segments())
    lane.select(seg.id)
    view.act_delete.trigger()
    assert seg.id not in lane.items and len(model.segments()) == n - 1
    view.act_undo.trigger()
    assert seg.id in lane.items
    view.act_redo.trigger()
    assert seg.id not in lane.items

    # Add from a range selected on the lane, and a marker at the cursor.
    lane.set_selection(0.5, 1.1)
    sid = view.add_label("pinch")
    assert model.segment(sid).start_s == pytest.approx(0.5) and lane.selection_range() is None
    view.set_time(4.0)
    view.add_marker("check")

    expected = model.labels()
    view.act_save.trigger()
    assert not model.dirty and not view.act_save.isEnabled()
    with SessionReader(session) as r:
        assert r.labels == [(pytest.approx(s), pytest.approx(e), n) for s, e, n in expected]
        assert "grip" not in [n for *_, n in r.labels] and r.markers == [(pytest.approx(4.0), "check")]
    assert _raw(session) == before, "saving labels changed raw data"
    # The view still works on the reopened file.
    view.set_time(1.0)
    assert view.frame_index_at(1.0) == 10


def test_drag_outside_recording_is_clamped(view, session):
    view.open_session(session)
    seg = view.model.segments()[-1]
    item = view.timeline.lane.items[seg.id]
    item.setRegion((seg.start_s + 50, seg.end_s + 50))
    item.sigRegionChangeFinished.emit(item)
    new = view.model.segment(seg.id)
    assert new.end_s == pytest.approx(view.reader.duration_s)
    assert item.getRegion() == pytest.approx((new.start_s, new.end_s))


def test_unsaved_changes_prompt(view, session, tmp_path, monkeypatch):
    other = tmp_path / "other.h5"
    other.write_bytes(session.read_bytes())
    view.open_session(session)
    sid = view.model.segments()[0].id
    view.rename_segment(sid, "edited")
    answers = []

    def ask(answer):
        def question(*a, **k):
            answers.append(answer)
            return answer
        monkeypatch.setattr(QMessageBox, "question", staticmethod(question))

    ask(QMessageBox.StandardButton.Cancel)
    assert not view.open_session(other) and view.path == session and view.model.dirty
    ask(QMessageBox.StandardButton.Save)
    assert view.open_session(other) and view.path == other
    with SessionReader(session) as r:
        assert "edited" in [n for *_, n in r.labels]
    view.rename_segment(view.model.segments()[0].id, "dropped")
    ask(QMessageBox.StandardButton.Discard)
    assert view.open_session(session)
    with SessionReader(other) as r:
        assert "dropped" not in [n for *_, n in r.labels]
    assert len(answers) == 3


def test_open_bad_file_shows_error(view, tmp_path, dialogs):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"nope" * 100)
    assert not view.open_session(bad)
    kind, title, text = dialogs.pop()
    assert kind == "critical" and "bad.h5" in text and view.reader is None


def test_playback_runs_at_real_speed(view, session, qtbot):
    view.open_session(session)
    view.set_time(1.0)
    view.play()
    assert view.playing
    qtbot.wait(400)
    view.stop()
    # 0.4 s of wall time; allow for a loaded CI machine but not for 2x speed or a stuck timer.
    assert 1.25 <= view.time_s <= 1.75
    view.speed_box.setCurrentText("4×")
    view.set_time(5.5)
    view.play()
    qtbot.waitUntil(lambda: not view.playing, timeout=3000)  # stops by itself at the end
    assert view.time_s == pytest.approx(view.reader.duration_s)


def test_emg_is_loaded_by_visible_range(view, tmp_path):
    path = make_synthetic_session(tmp_path / "long.h5", duration_s=120.0, seed=1, frame_rate=5.0)
    view.open_session(path)
    tl = view.timeline
    full = len(tl.emg_curves[0].xData)
    assert full <= 2 * tl.MAX_BINS + 2  # 24000 samples drawn as min/max pairs
    tl.show_range(60.0, 61.0)
    tl.reload_emg()
    x = tl.emg_curves[0].xData
    assert x.min() >= 59.0 and x.max() <= 62.0
    assert np.all(np.diff(x) > 0) and len(x) > 150  # raw samples at 200 Hz, 1 s (+margin)


def test_minmax_downsample_keeps_extremes():
    t = np.arange(10_001) / 200.0
    x = np.random.default_rng(0).normal(size=(10_001, 2))
    x[7777, 1] = 50.0
    x[10_000, 0] = -40.0  # the very last sample must not be dropped
    t2, x2 = minmax_downsample(t, x, 500)
    assert len(t2) <= 1000 and x2[:, 1].max() == 50.0 and x2[:, 0].min() == -40.0
    assert t2[0] == t[0] and t2[-1] == t[-1] and np.all(np.diff(t2) >= 0)


def test_rerun_landmarks_cancel_then_complete(view, session, qtbot):
    view.open_session(session)
    with h5py.File(session, "r") as f:
        old = f["landmarks/world"][:]
    raw = _raw(session)
    opts = dict(model_complexity=0, min_detection_confidence=0.5, min_tracking_confidence=0.5,
                static_image_mode=False)

    w = view.rerun_landmarks(opts)
    assert view.progress.isVisibleTo(view) and view.cancel_button.isVisibleTo(view)
    assert not view.act_rerun.isEnabled()
    with qtbot.waitSignal(w.signals.aborted, timeout=30000):
        with qtbot.waitSignal(w.signals.progress, timeout=30000):
            pass
        view.cancel_button.click()
    qtbot.waitUntil(lambda: not view.cancel_button.isVisibleTo(view), timeout=5000)
    with h5py.File(session, "r") as f:
        np.testing.assert_array_equal(f["landmarks/world"][:], old)  # cancelled: nothing written

    w = view.rerun_landmarks(opts)
    with qtbot.waitSignal(w.signals.finished, timeout=60000):
        pass
    assert w.error is None, w.error
    with SessionReader(session) as r:
        found = r.has_hand()
        assert found.mean() > 0.5, "MediaPipe should find the rendered hand in most frames"
        world = np.asarray(r.landmarks_world)
        assert not np.allclose(world[found], old[found])  # MediaPipe's world frame differs from truth
        assert '"model_complexity": 0' in r.attrs["landmarks_settings"]
    assert _raw(session) == raw
    assert view.reader is not None and view.progress.isHidden()
    assert np.isfinite(np.asarray(view.timeline.presence_curve.yData)).all()


def test_toolbar_actions(view, session, monkeypatch):
    view.open_session(session)
    view.set_time(2.0)
    view.name_box.setCurrentText("wave")
    view.act_add.trigger()  # no range selected: 1 s from the cursor
    seg = view.model.segment(view.timeline.lane.selected_id)
    assert (seg.start_s, seg.end_s, seg.name) == (pytest.approx(2.0), pytest.approx(3.0), "wave")
    assert view.act_rename.isEnabled() and view.act_delete.isEnabled()
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("blink", True)))
    view.act_marker.trigger()
    assert view.model.markers()[-1] == (pytest.approx(2.0), "blink")
    assert len(view.timeline.lane.marker_items) == len(view.model.markers())
    view.act_play.trigger()
    assert view.playing
    view.act_play.trigger()
    assert not view.playing
    view.act_undo.trigger()
    view.act_undo.trigger()
    assert not view.model.dirty


def test_label_lane_makes_items_only_for_the_visible_span(qtbot):
    from app.review.timeline import TimelineWidget
    from recorder.session.annotations import AnnotationModel

    tl = TimelineWidget()
    qtbot.addWidget(tl)
    lane = tl.lane
    model = AnnotationModel([(k, k + 0.8, "ab"[k % 2]) for k in range(400)], duration_s=400.0)
    lane.set_view_range(0, 400)
    lane.set_model(model)
    assert lane.overview_shown and not lane.items  # 400 segments: one bar item, no per-segment items
    assert len(lane.overview.opts["x0"]) == 400
    lane.set_view_range(100, 110)
    assert not lane.overview_shown
    assert sorted(lane.items) == sorted(s.id for s in model.segments() if s.end_s >= 97.5 and s.start_s <= 112.5)
    sid = model.segments()[105].id
    item = lane.items[sid]
    item.setRegion((105.2, 106.2))
    item.sigRegionChangeFinished.emit(item)  # the drag path still edits the model
    assert model.segment(sid).start_s == pytest.approx(105.2)
    far = model.add_segment(300, 301, "c")  # out of view: no item until scrolled there
    assert far not in lane.items
    lane.set_view_range(295, 305)
    assert far in lane.items and sid not in lane.items
    model.undo()
    assert far not in lane.items and far not in {s.id for s in model.segments()}


@pytest.mark.parametrize("damage", ["truncated crash copy", "bit rot in landmarks", "declared 2^40 rows"])
def test_open_damaged_file_shows_error_or_opens(view, session, tmp_path, dialogs, damage):
    """Hostile files (issue 15): Review answers with a message naming the file, or opens what is
    really stored; never an exception in the slot or a hang."""
    p = tmp_path / "damaged.h5"
    p.write_bytes(session.read_bytes())
    if damage == "truncated crash copy":
        raw = bytearray(p.read_bytes())
        raw[11] |= 0x05  # flag it "open for write", as a SIGKILLed writer leaves it
        p.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "bit rot in landmarks":
        with h5py.File(p, "r") as f:
            off = f["landmarks/score"].id.get_chunk_info(0).byte_offset
        raw = bytearray(p.read_bytes())
        raw[off + 3] ^= 0x40
        p.write_bytes(bytes(raw))
    else:
        with h5py.File(p, "r+") as f:
            f["emg/t"].resize(2 ** 40, axis=0)
            f["emg/data"].resize(2 ** 40, axis=0)
    if view.open_session(p):
        assert view.reader.n_samples < 2 ** 40
    else:
        kind, title, text = dialogs.pop()
        assert kind == "critical" and "damaged.h5" in text and view.reader is None
