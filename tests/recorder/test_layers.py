"""The import contracts (docs/architecture.md), and what breaking the cycles moved: `emgrec bench`
runs bench/ as a child process, predict_array is still importable from training, and the one error root."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    # .ci/run runs lint-imports too; here so that a plain pytest run shows a broken contract.
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.skip("import-linter not installed (pip install -e '.[test]')")
    p = subprocess.run([str(exe), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 broken" in p.stdout


def test_emgrec_bench_runs_the_bench_package_as_a_child_from_any_folder(tmp_path):
    # An unknown group is refused by bench's own argument parser: proof that bench/__main__ ran,
    # found from the source tree although the working folder is elsewhere.
    p = subprocess.run([sys.executable, "-m", "recorder", "bench", "--only", "nosuch"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "unknown group(s) ['nosuch']" in p.stderr
    assert "python -m bench" in p.stderr  # bench's prog name, not emgrec's


def test_training_still_exports_predict_array():
    from recorder.model import predict, training
    assert training.predict_array is predict.predict_array


def test_every_engine_error_class_has_the_one_root_and_keeps_its_builtin_base():
    from recorder.session import annotations, format as session, writelock
    from recorder.export import bids as bids_export, files as export
    from recorder.capture import camera, landmarks
    from recorder.dataset import windows as dataset
    from recorder.imports import tables as importers
    from recorder.live import predictor as live
    from recorder.model import folder as modelio, architectures as models, training
    from recorder.sources import base
    from recorder.core.errors import EmgrecError
    expected = {annotations.AnnotationError: ValueError, bids_export.BidsExportError: ValueError,
                camera.CameraError: RuntimeError, dataset.DatasetError: ValueError, export.ExportError: ValueError,
                importers.ImportFormatError: ValueError, landmarks.LandmarkError: RuntimeError,
                live.LiveInputError: ValueError, modelio.ModelFormatError: ValueError,
                models.ModelConfigError: ValueError, session.SessionFormatError: ValueError,
                training.ConfigError: ValueError, writelock.SessionBusyError: OSError,
                base.DeviceError: RuntimeError, base.DeviceLost: RuntimeError, base.DeviceNotFound: RuntimeError}
    for cls, builtin in expected.items():
        assert issubclass(cls, EmgrecError) and issubclass(cls, builtin), cls
    # Cancelling is not an error: the one cancel type is outside the root.
    from recorder.core.errors import Cancelled
    assert issubclass(export.ExportCancelled, Cancelled) and not issubclass(export.ExportCancelled, EmgrecError)
