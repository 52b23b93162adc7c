"""The Train tab shows a joint-angle model's metrics (MAE in degrees beside the mean-angle baseline)."""

from app.settings import Settings
from app.train_view import TrainView, headline

ANGLE_METRICS = {"n": 10, "mae_deg": 14.7, "baseline_mae_deg": 34.0, "ratio": 0.432,
                 "per_finger_deg": {"thumb": 13.2, "index": 23.8}, "baseline_per_finger_deg": {"thumb": 32.5, "index": 49.4},
                 "per_angle_deg": {"thumb": 13.2, "index": 23.8}}


def test_headline_and_metrics_table_for_angles(qtbot, tmp_path, no_thread_leaks):
    text, value = headline({"metrics": {"test": ANGLE_METRICS}})
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
