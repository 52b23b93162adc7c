"""Real Myo recordings (aljazfrancic/myo-readings-dataset), imported as EMG-only sessions with their
labels: gesture classification on a held-out time block of every file, well above chance."""
import numpy as np
import pytest

from recorder.model.metrics import format_confusion
from recorder.model.training import train


@pytest.mark.slow
def test_myo_gesture_classification(shared_data, tmp_path):
    importers = pytest.importorskip("recorder.imports.tables")
    src = shared_data / "emg" / "myo-readings" / "_readings_right_hand"
    files = sorted(src.rglob("*.txt"))
    assert len(files) == 8
    # One session per file (60 s each, the label alternating rest / that file's gesture every 5 s),
    # so the held-out last 15 % of every session holds rest and one gesture: all 8 classes are tested.
    sessions = [importers.import_myo_readings(f, tmp_path / f"{f.stem}.h5") for f in files]
    cfg = {"task": "gesture", "model": {"name": "dense"},
           "data": {"window_ms": 400, "anchor": "grid", "grid_step_ms": 50, "transition_guard_ms": 300},
           "split": {"mode": "time", "val_fraction": 0.15, "test_fraction": 0.15},
           "train": {"epochs": 15, "threads": 1}}
    res = train(cfg, sessions, tmp_path / "model")
    m = res.metrics["test"]
    print(format_confusion(m))
    assert len(res.meta.class_names) == 8
    assert m["n"] > 500
    # 8 classes, rest about half the time: the majority baseline is ~0.5
    assert m["accuracy"] > 0.85, m["accuracy"]
    assert m["accuracy"] > m["baseline_accuracy"] + 0.3
    assert np.asarray(m["confusion"]).sum() == m["n"]
