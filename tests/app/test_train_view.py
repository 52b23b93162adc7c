"""The Train tab: a tiny model trained in a subprocess from the GUI (curves, metrics beside the
baseline, model list), Cancel, and a clear error for sessions without usable windows."""

import pytest
from PySide6 import QtCore

from app.qt.errors import friendly_error
from app.qt.settings import Settings
from app.train.view import TrainView
from recorder.model.folder import ModelMeta
from recorder.imports.synthetic_sessions import make_synthetic_session


@pytest.fixture(scope="module")
def sessions(tmp_path_factory, synthetic_session):
    d = synthetic_session.parent  # alone in its folder
    bad = tmp_path_factory.mktemp("no-hands")
    make_synthetic_session(bad / "nohands.h5", duration_s=10.0, seed=1, hand_dropout=1.0)
    return d, bad


@pytest.fixture
def view(qtbot, tmp_path, no_thread_leaks):
    settings = Settings(tmp_path / "settings.ini")
    settings.set_output_dir(tmp_path / "empty")
    v = TrainView(settings)
    qtbot.addWidget(v)
    v.model_dir.setText(str(tmp_path / "models"))
    v.resize(1400, 900)
    v.show()
    qtbot.waitUntil(lambda: v.model.isEnabled() and v.model.findData("dense") >= 0, timeout=30000)
    yield v
    v.shutdown()
    assert not v.runner.running


def _load(qtbot, v, folder):
    with qtbot.waitSignal(v.sessions_loaded, timeout=20000):
        v.set_session_folder(folder)
    assert v.session_list.count() >= 1
    v.session_list.selectAll()


def test_train_tiny_model(qtbot, view, sessions):
    v = view
    _load(qtbot, v, sessions[0])
    v.model.setCurrentIndex(v.model.findData("dense"))
    v.epochs.setValue(3)
    v.batch.setValue(64)
    cfg = v.config()
    assert cfg["model"]["name"] == "dense" and cfg["train"]["epochs"] == 3 and cfg["split"]["mode"] == "time"
    with qtbot.waitSignal(v.models_changed, timeout=120000):  # the refresh after a finished run
        with qtbot.waitSignal(v.training_ended, timeout=120000) as ended:
            assert v.start_training()
            assert v.runner.running and not v.train_btn.isEnabled() and v.cancel_btn.isEnabled()
    assert ended.args[0] == "done", ended.args
    assert not v.runner.running
    # The curves received one point per epoch (patience 8 > 3 epochs: no early stop).
    assert v.curves.n_points == 3 and len(v.curves.val_metric) == 3
    assert all(m > 0 for m in v.curves.val_metric)
    rows = v.metric_rows()
    mp, base = rows["MPJPE (mm)"], rows["mean-pose baseline (mm)"]
    assert len(mp) == 2  # validation and test columns
    # The model learned something: validation MPJPE under the mean-pose baseline.
    assert float(mp[0]) < float(base[0])
    assert {"ratio model / baseline", "R²", "thumb (mm, baseline)", "pinky (mm, baseline)"} <= set(rows)
    assert set(v.fingers.values) == {"thumb", "index", "middle", "ring", "pinky"}
    # The new model is listed with its headline metric and selected; it can go to the live preview.
    assert len(v.models) == 1 and "MPJPE" in v.models[0]["headline"] and v.models[0]["task"] == "pose"
    assert v.selected_model() is not None and v.live_btn.isEnabled()
    # The list holds the engine's ModelMeta (attributes, not model.json keys) and the summary shows it.
    meta = v.models[0]["meta"]
    assert isinstance(meta, ModelMeta) and meta.architecture_name == "dense" and meta.training["epochs_run"] == 3
    assert f"dense · pose · window {meta.window_ms} ms" in v.summary.text()
    with qtbot.waitSignal(v.live_model_requested) as req:
        v.live_btn.click()
    assert req.args[0] == v.models[0]["path"]


def test_cancel_stops_the_subprocess(qtbot, view, sessions, tmp_path):
    v = view
    _load(qtbot, v, sessions[0])
    v.model.setCurrentIndex(v.model.findData("small_lstm"))
    v.epochs.setValue(500)
    assert v.start_training()
    out = v.runner.out_dir
    pid = v.runner.proc.processId()
    assert pid > 0
    # Cancel once the child is past start-up and training (so the cancel really interrupts work).
    qtbot.waitUntil(lambda: any(e.get("event") == "start" for e in v.runner.events), timeout=60000)
    with qtbot.waitSignal(v.training_ended, timeout=15000) as ended:
        v.cancel_btn.click()
    assert ended.args[0] == "cancelled"
    assert v.runner.proc.state() == QtCore.QProcess.ProcessState.NotRunning
    assert not out.exists(), "a cancelled run must not leave a model folder"
    assert v.banner.isVisible() and "cancelled" in v.banner.text()
    assert v.train_btn.isEnabled() and not v.cancel_btn.isEnabled()
    with qtbot.waitSignal(v.models_changed, timeout=20000):
        v.refresh_models()
    assert v.models == []


def test_sessions_without_hands_give_a_clear_error(qtbot, view, sessions):
    v = view
    _load(qtbot, v, sessions[1])
    v.epochs.setValue(2)
    with qtbot.waitSignal(v.training_ended, timeout=60000) as ended:
        assert v.start_training()
    assert ended.args[0] == "error"
    text = v.banner.text()
    assert v.banner.isVisible() and "No training windows" in text and "hand" in text
    assert "Traceback" not in text
    assert v.metrics_table.rowCount() == 0


def test_nothing_selected_is_refused(qtbot, view):
    assert not view.start_training()
    assert "Select one or more sessions" in view.banner.text()
    assert "A session could not be read" in friendly_error("SessionFormatError: x.h5: not a session", action="train", task="pose")


def test_best_epoch_marker_says_what_it_marks(qtbot):
    """The kept epoch is chosen by validation loss; the validation-MPJPE plot marks it as such
    and stars the lowest-MPJPE epoch separately (they differ here: 4 vs 5)."""
    from app.train.plots import CurvesPlot

    c = CurvesPlot()
    qtbot.addWidget(c)
    c.reset("pose")
    for ep, vl, mm, best in [(1, 1.0, 30, True), (2, 0.8, 25, True), (3, 0.7, 22, True), (4, 0.6, 20, True),
                             (5, 0.65, 18, False)]:
        c.add_epoch({"epoch": ep, "train_loss": vl, "val_loss": vl, "val_mpjpe_mm": mm, "best": best})
    assert [line.value() for line in c._best_lines] == [4, 4]
    assert all("val loss" in line.label.textItem.toPlainText() for line in c._best_lines)
    assert c.best_metric_epoch == 5 and list(c._best_metric.xData) == [5]
    names = [lab.text for _, lab in c.metric.plotItem.legend.items]
    assert "lowest MPJPE" in names
