"""The GUI's side of the one progress type: a worker job reports recorder.core.types.Progress (and
nothing else), bars show it the same whatever its unit, and training's JSONL epochs map into it."""
import pytest
from PySide6.QtWidgets import QProgressBar

from app.train.view import training_progress
from app.qt.workers import BAR_STEPS, WorkerPool, show_progress
from recorder.core.types import Progress


def test_show_progress_scales_any_unit_and_busy_when_unknown(qtbot):
    bar = QProgressBar()
    qtbot.addWidget(bar)
    show_progress(bar, Progress(3, 12, "frames"))
    assert (bar.minimum(), bar.maximum(), bar.value()) == (0, BAR_STEPS, 250)
    show_progress(bar, Progress.of_fraction(0.5))
    assert bar.value() == BAR_STEPS // 2
    show_progress(bar, Progress(7))
    assert (bar.minimum(), bar.maximum()) == (0, 0)  # busy


def test_worker_passes_progress_objects_and_refuses_the_old_shape(qtbot):
    pool = WorkerPool()

    def job(progress):
        progress(Progress(1, 2, "one"))
        progress(Progress(2, 2, "two"))
        return True

    w = pool.worker(job)
    got = []
    w.signals.progress.connect(got.append)
    with qtbot.waitSignal(w.signals.finished, timeout=5000):
        w.start()
    assert got[-1] == Progress(2, 2, "two") and w.result is True

    def old(progress):
        progress(1, 2, "one")

    w = pool.worker(old)
    with qtbot.waitSignal(w.signals.finished, timeout=5000):
        w.start()
    assert isinstance(w.error, TypeError)
    assert pool.shutdown(5.0)


@pytest.mark.parametrize("event, expected", [
    ({"event": "start", "epochs": 20}, Progress(0, 20, "")),
    ({"event": "epoch", "epoch": 5, "epochs": 20, "val_acc": 0.5}, Progress(5, 20, "epoch 5/20")),
    ({"event": "done", "metrics": {}}, None),
])
def test_training_events_map_into_progress(event, expected):
    assert training_progress(event) == expected
