"""The Train tab shows a joint-angle model's metrics (MAE in degrees beside the mean-angle baseline)."""

from app.qt.settings import Settings
from recorder.model.folder import ModelMeta
from app.train.view import TrainView, headline

ANGLE_METRICS = {"n": 10, "mae_deg": 14.7, "baseline_mae_deg": 34.0, "ratio": 0.432,
                 "per_finger_deg": {"thumb": 13.2, "index": 23.8}, "baseline_per_finger_deg": {"thumb": 32.5, "index": 49.4},
                 "per_angle_deg": {"thumb": 13.2, "index": 23.8}}


def test_headline_and_metrics_table_for_angles(qtbot, tmp_path, no_thread_leaks):
    text, value = headline(ModelMeta(task="pose", architecture={"name": "dense"}, input={}, normalisation={}, targets={},
                                     class_names=[], baseline={}, split={}, metrics={"test": ANGLE_METRICS}))
    assert "angle MAE 14.7°" in text and "baseline 34.0" in text and value == 14.7
    settings = Settings(tmp_path / "settings.ini")
    settings.set_output_dir(tmp_path / "empty")
    v = TrainView(settings)
    qtbot.addWidget(v)
    v.show_metrics({"val": ANGLE_METRICS, "test": ANGLE_METRICS})
    t = v.metrics_table
    labels = [t.verticalHeaderItem(i).text() for i in range(t.rowCount())]
    assert "angle MAE (deg)" in labels and "mean-angle baseline (deg)" in labels
    assert v.fingers.values["index"] == (23.8, 49.4)


def test_target_selector_sets_data_target_and_set_config_round_trips(qtbot, tmp_path, no_thread_leaks):
    """The Target combo (pose only) becomes config data.target; set_config() is config()'s inverse
    and refuses unknown values without changing the form."""
    import pytest

    from recorder.model.training import DEFAULT_CONFIG

    settings = Settings(tmp_path / "settings.ini")
    settings.set_output_dir(tmp_path / "empty")
    v = TrainView(settings, load_engine=False)  # no registry: model.name waits for it
    qtbot.addWidget(v)
    assert [v.target.itemText(i) for i in range(v.target.count())] == ["Hand landmarks (mm)", "Joint angles (°)"]
    assert v.config()["data"]["target"] == DEFAULT_CONFIG["data"]["target"] == "landmarks"
    v.set_config({"task": "pose", "data": {"target": "angles", "window_ms": 300},
                  "split": {"mode": "session"}, "train": {"epochs": 7, "lr": 0.001, "batch_size": 64}})
    assert v.target.currentText() == "Joint angles (°)"
    cfg = v.config()
    assert cfg["data"] == {"window_ms": 300.0, "target": "angles"} and cfg["split"]["mode"] == "session"
    assert cfg["train"] == {"epochs": 7, "lr": 0.001, "batch_size": 64}
    v.set_config(cfg)
    assert v.config() == cfg  # round trip
    v.set_config({"data": {"target": "landmarks"}})
    assert v.config()["data"]["target"] == "landmarks" and v.config()["train"]["epochs"] == 7

    with pytest.raises(ValueError, match="unknown target 'quaternions'"):
        v.set_config({"task": "gesture", "data": {"target": "quaternions"}})
    assert v.config()["task"] == "pose"  # nothing changed

    v.set_config({"task": "gesture"})
    assert not v.target.isEnabled() and "target" not in v.config()["data"]  # gestures have no pose target
    v.set_config({"task": "pose", "model": {"name": "dense"}})
    assert v.target.isEnabled()
    v._fill_registry(([("cnn", "a"), ("dense", "b")], "cnn"))  # the registry arrives: the asked one wins
    assert v.config()["model"]["name"] == "dense"
    with pytest.raises(ValueError, match="unknown architecture 'nope'"):
        v.set_config({"model": {"name": "nope"}})

    # The engine's defaults (what scripts/screenshots.py shows) go in whole and come back out.
    from recorder.model.training import resolve_split
    v._fill_registry(([(DEFAULT_CONFIG["model"]["name"], "x"), ("dense", "b")], "dense"))
    full = {**DEFAULT_CONFIG, "split": resolve_split(DEFAULT_CONFIG["split"], 1)}
    v.set_config(full)
    got = v.config()
    assert got["model"]["name"] == full["model"]["name"] and got["task"] == full["task"] == "pose"
    assert got["data"] == {"window_ms": full["data"]["window_ms"], "target": full["data"]["target"]}
    assert got["train"] == {k: full["train"][k] for k in ("epochs", "lr", "batch_size")}
    assert got["split"] == {"mode": "time"}
    v.shutdown()
