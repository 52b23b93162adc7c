"""The GUI's one error relay (app.qt.errors.friendly_error): the texts the dialogs and the training view
show, the engine's error root as the pivot, and no second copy of the relay in app/."""
import ast
import errno
from pathlib import Path

import pytest

import app
from app.qt.errors import error_from_line, friendly_error
from recorder.capture.camera import CameraError
from recorder.dataset.windows import DatasetError
from recorder.core.errors import EmgrecError
from recorder.export.files import ExportError
from recorder.imports.tables import ImportFormatError
from recorder.session.format import SessionFormatError
from recorder.session.writelock import SessionBusyError


def test_only_one_relay_in_the_gui():
    defs = [f"{p.name}:{n.lineno}" for p in Path(app.__file__).parent.rglob("*.py")
            for n in ast.walk(ast.parse(p.read_text()))
            if isinstance(n, ast.FunctionDef) and "friendly" in n.name]
    assert defs == [f"errors.py:{defs[0].split(':')[1]}"], defs


@pytest.mark.parametrize("action, exc, text", [
    ("export", ExportError("nohands.h5 has no frames: use a gesture export"), "nohands.h5 has no frames: use a gesture export"),
    ("export", SessionFormatError("s.h5", "not a session"), "Cannot export: s.h5: not a session"),
    ("export", OSError(errno.ENOSPC, "No space left on device"), "Cannot write the export: [Errno 28] No space left on device"),
    ("export", FileExistsError("out.npz exists"), "out.npz exists"),
    ("export", PermissionError(errno.EACCES, "Permission denied", "/ro/x.npz"), "[Errno 13] Permission denied: '/ro/x.npz'"),
    ("import", ValueError("rate must be positive"), "Cannot import: rate must be positive"),
    ("import", OSError("disk gone"), "Cannot write the session: disk gone"),
    ("import", TypeError("bad operand"), "Import failed (TypeError): bad operand"),
    ("job", KeyError("x"), "Job failed (KeyError): 'x'"),
    # the engine's RuntimeError-based errors are messages too, not bugs with a type name
    ("job", CameraError("camera 0 could not be opened"), "Cannot run it: camera 0 could not be opened"),
    ("export", SessionBusyError("s.h5", "recorded", None), "Cannot write the export: " + str(SessionBusyError("s.h5", "recorded", None))),
])
def test_texts_per_action(action, exc, text):
    assert friendly_error(exc, action=action) == text


def test_import_format_error_names_the_format_and_line():
    e = ImportFormatError("bad.csv line 5: expected 5 fields, got 3")
    assert friendly_error(e, action="import", fmt="csv") == "Not a valid csv file — bad.csv line 5: expected 5 fields, got 3"
    # outside an import the same error is an engine error like any other
    assert friendly_error(e, action="export") == "Cannot export: bad.csv line 5: expected 5 fields, got 3"


@pytest.mark.parametrize("line, task, start", [
    ("DatasetError: no usable windows in 2 sessions", "pose", "No training windows in the selected sessions: pose training"),
    ("DatasetError: no usable windows in 2 sessions", "gesture", "No training windows in the selected sessions: gesture"),
    ("SessionFormatError: x.h5: not a session", "pose", "A session could not be read: x.h5: not a session"),
    ("FileNotFoundError: x.h5", "pose", "A session could not be read: x.h5"),
    ("OSError: disk gone", "pose", "A session could not be read: disk gone"),
    ("ConfigError: train.lr must be > 0", "pose", "Training failed: train.lr must be > 0"),
    ("something odd", "pose", "Training failed: something odd"),
])
def test_training_lines(line, task, start):
    assert friendly_error(line, action="train", task=task).startswith(start)


def test_error_from_line_rebuilds_engine_and_builtin_kinds():
    e = error_from_line("SessionFormatError: x.h5: not a session")
    assert type(e) is SessionFormatError and str(e) == "x.h5: not a session"
    assert type(error_from_line("DatasetError: none")) is DatasetError
    assert type(error_from_line("PermissionError: /ro")) is PermissionError
    unknown = error_from_line("NoSuchKind: x")
    assert type(unknown) is EmgrecError and str(unknown) == "x"
    assert type(error_from_line("print: x")) is EmgrecError   # a builtin that is not an exception
    assert str(error_from_line("no kind here")) == "no kind here"
    assert str(error_from_line("x.h5 line 3: bad")) == "x.h5 line 3: bad"
