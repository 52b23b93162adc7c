"""What breaking the import cycles moved (docs/architecture.md): `emgrec bench` runs bench/ as a
child process, and the factory that left recorder.devices still answers there, with a warning."""
import subprocess
import sys

import pytest


def test_emgrec_bench_runs_the_bench_package_as_a_child_from_any_folder(tmp_path):
    # An unknown group is refused by bench's own argument parser: proof that bench/__main__ ran,
    # found from the source tree although the working folder is elsewhere.
    p = subprocess.run([sys.executable, "-m", "recorder", "bench", "--only", "nosuch"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "unknown group(s) ['nosuch']" in p.stderr
    assert "python -m bench" in p.stderr  # bench's prog name, not emgrec's


def test_open_emg_moved_to_sources_and_the_old_name_warns():
    import recorder.devices
    import recorder.sources
    with pytest.warns(DeprecationWarning, match="recorder.sources.open_emg"):
        assert recorder.devices.open_emg is recorder.sources.open_emg
    with pytest.warns(DeprecationWarning):
        assert recorder.devices.EMG_SPEC_HELP == recorder.sources.EMG_SPEC_HELP
    with pytest.raises(AttributeError):
        recorder.devices.no_such_name  # noqa: B018


def test_training_still_exports_predict_array():
    from recorder import predict, training
    assert training.predict_array is predict.predict_array


def test_every_engine_error_class_has_the_one_root_and_keeps_its_builtin_base():
    from recorder import (annotations, bids_export, camera, dataset, export, importers, landmarks, live, modelio,
                          models, session, training, writelock)
    from recorder.devices import base
    from recorder.errors import EmgrecError
    expected = {annotations.AnnotationError: ValueError, bids_export.BidsExportError: ValueError,
                camera.CameraError: RuntimeError, dataset.DatasetError: ValueError, export.ExportError: ValueError,
                importers.ImportFormatError: ValueError, landmarks.LandmarkError: RuntimeError,
                live.LiveInputError: ValueError, modelio.ModelFormatError: ValueError,
                models.ModelConfigError: ValueError, session.SessionFormatError: ValueError,
                training.ConfigError: ValueError, writelock.SessionBusyError: OSError,
                base.DeviceError: RuntimeError, base.DeviceLost: RuntimeError, base.DeviceNotFound: RuntimeError}
    for cls, builtin in expected.items():
        assert issubclass(cls, EmgrecError) and issubclass(cls, builtin), cls
    # Cancelling is not an error.
    assert not issubclass(export.ExportCancelled, EmgrecError)
