"""The Train tab starts without torch: listing the architectures, the sessions and the model folders
(model.json) must not import it. Importing torch (~770 modules, 2-4 s holding the GIL) on a worker
thread stalled the GUI thread for 200-330 ms while the user may already be recording; the GUI
process needs torch only to load a model for the live preview."""
import json
import os
import subprocess
import sys

import pytest

from recorder.model.training import train

#: A fresh process: the Train tab as the main window starts it (TrainView, then load_engine on its
#: worker thread), waiting until the architecture, session and model lists have all arrived.
CHILD = r"""
import json, sys
from PySide6 import QtCore, QtWidgets
from app.qt.settings import Settings
from app.train.view import TrainView

app = QtWidgets.QApplication([])
settings = Settings(sys.argv[1])
settings.q.setValue("train/session_dir", sys.argv[2])
settings.q.setValue("train/model_dir", sys.argv[3])
v = TrainView(settings, load_engine=False)
got = set()
v.sessions_loaded.connect(lambda: got.add("sessions"))
v.models_changed.connect(lambda entries: got.add("models"))
v.load_engine()
timer = QtCore.QElapsedTimer()
timer.start()
while not (got == {"sessions", "models"} and v.model.isEnabled()) and timer.elapsed() < 60000:
    app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
out = {"got": sorted(got), "architectures": [v.model.itemData(i) for i in range(v.model.count())],
       "current": v.model.currentData(), "sessions": v.session_list.count(),
       "models": [(m["architecture"], m["error"], m["meta"] is not None) for m in v.models],
       "torch": "torch" in sys.modules, "torch_modules": sum(1 for m in sys.modules if m.startswith("torch"))}
v.shutdown()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def folders(tmp_path_factory, synthetic_session):
    models = tmp_path_factory.mktemp("nt-models")
    cfg = {"model": {"name": "dense", "params": {"hidden": [8]}}, "data": {"window_ms": 100},
           "train": {"epochs": 1, "batch_size": 64, "threads": 1}}
    train(cfg, [synthetic_session], models / "m")
    return synthetic_session.parent, models


def test_train_tab_start_up_does_not_import_torch(folders, tmp_path):
    sessions, models = folders
    r = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "settings.ini"), str(sessions), str(models)],
                       capture_output=True, text=True, timeout=180,
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    # The start-up did its work (so the check below is not vacuous) ...
    assert out["got"] == ["models", "sessions"], out
    assert "dense" in out["architectures"] and out["current"] == "envelope_lstm", out
    assert out["sessions"] >= 1 and out["models"] == [["dense", "", True]], out
    # ... without torch.
    assert not out["torch"], f"{out['torch_modules']} torch modules imported by the Train tab's start-up"
