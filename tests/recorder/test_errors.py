"""One error root: every error class of the engine derives from EmgrecError (keeping its built-in
base), and `emgrec` turns those and OS errors into one line and exit code 1; anything else is a bug
and keeps its traceback."""
import ast
import errno
import importlib
from pathlib import Path

import pytest

import recorder
from recorder.cli import emgrec as cli
from recorder.core.errors import Cancelled, EmgrecError, UsageError

ROOT = Path(recorder.__file__).parent


def _error_classes():
    """(module, class name) of every class in recorder/ named *Error or *Exception."""
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Exception")):
                mod = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
                yield mod.removesuffix(".__init__"), node.name


def test_every_engine_error_class_has_the_root():
    found = list(_error_classes())
    assert len(found) >= 17, found
    for mod, name in found:
        cls = getattr(importlib.import_module(mod), name)
        if cls is EmgrecError:
            continue
        assert issubclass(cls, EmgrecError), f"{mod}.{name} lacks the EmgrecError base"
        # the built-in base stays, so existing `except ValueError` handlers keep their meaning
        assert issubclass(cls, (ValueError, OSError, RuntimeError)), f"{mod}.{name}"
    assert not issubclass(Cancelled, EmgrecError)


def test_lag_error_is_still_a_value_error():
    from recorder.dataset.lag import LagError
    assert issubclass(LagError, EmgrecError) and issubclass(LagError, ValueError)


def test_command_line_mistakes_are_engine_errors():
    from recorder.cli.commands.import_ import parse_label_names
    from recorder.cli.commands.train import parse_sweep
    for bad in (lambda: parse_label_names("0=rest,x"), lambda: parse_sweep(["lr"])):
        with pytest.raises(UsageError):
            bad()
    assert issubclass(UsageError, ValueError)


def test_bad_option_values_and_specs_are_engine_errors(tmp_path):
    """A sample of the engine's user-facing checks: each is an EmgrecError and still a ValueError."""
    from recorder.sources.base import SourceConfigError
    from recorder.session.library import rename_session
    from recorder.capture.protocol import Protocol
    from recorder.sources.factory import open_emg
    cases = [(lambda: open_emg("nonsense:1"), SourceConfigError), (lambda: open_emg("synthetic:fast"), SourceConfigError),
             (lambda: Protocol(["fist"], reps=0), UsageError), (lambda: rename_session(tmp_path / "s.h5", "a/b"), UsageError)]
    for bad, cls in cases:
        with pytest.raises(cls) as info:
            bad()
        assert isinstance(info.value, EmgrecError) and isinstance(info.value, ValueError)
        assert cli.error_message(info.value) == str(info.value)


def _run_info_raising(monkeypatch, capsys, exc):
    import recorder.cli.commands.info as info

    def boom(args):
        raise exc
    monkeypatch.setattr(info, "run", boom)
    rc = cli.main(["info", "x.h5"])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("exc, line", [
    (OSError(errno.ENOSPC, "No space left on device", "/data/s.h5"), "/data/s.h5: No space left on device"),
    (PermissionError(errno.EACCES, "Permission denied", "/ro/s.h5"), "/ro/s.h5: Permission denied"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "m.json"), "m.json: No such file or directory"),
    (OSError(errno.EXDEV, "Invalid cross-device link", "a.h5", None, "b.h5"), "a.h5 -> b.h5: Invalid cross-device link"),
    (FileExistsError("out.h5 exists (use --force)"), "out.h5 exists (use --force)"),
    (UsageError("--rate must be positive, got -1"), "--rate must be positive, got -1"),
])
def test_cli_prints_one_line_and_exit_code_1(monkeypatch, capsys, exc, line):
    rc, err = _run_info_raising(monkeypatch, capsys, exc)
    assert rc == 1 and err == f"emgrec info: error: {line}\n"


def test_lag_error_reaches_the_cli_as_one_line(monkeypatch, capsys):
    from recorder.dataset.lag import LagError
    rc, err = _run_info_raising(monkeypatch, capsys, LagError("s.h5: too few frames"))
    assert rc == 1 and err == "emgrec info: error: s.h5: too few frames\n"


@pytest.mark.parametrize("exc", [TypeError("unsupported operand"), ValueError("plain check"),
                                 RuntimeError("plain state"), KeyError("k")])
def test_a_bug_keeps_its_traceback(monkeypatch, capsys, exc):
    rc, err = _run_info_raising(monkeypatch, capsys, exc)
    assert rc == cli.EXIT_BUG != cli.EXIT_ERROR
    assert err.startswith("Traceback (most recent call last):"), err
    assert err.splitlines()[-1] == f"emgrec info: this is a bug, please report it ({type(exc).__name__}: {exc})"
    assert cli.error_message(exc) is None


def test_jsonl_training_reports_engine_errors_and_lets_bugs_through(monkeypatch, tmp_path, capsys):
    """`emgrec train --jsonl-progress` (the GUI's child process): an EmgrecError is its one error
    event, exit code 1; a bug is no event but a traceback and the bug line."""
    import json
    from recorder.model import training

    def boom(exc):
        def train(*a, **k):
            raise exc
        return train
    argv = ["train", str(tmp_path / "s.h5"), "--out", str(tmp_path / "m"), "--jsonl-progress"]
    monkeypatch.setattr(training, "train", boom(training.TrainingError("training diverged")))
    assert cli.main(argv) == cli.EXIT_ERROR
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"event": "error",
                                                                     "error": "TrainingError: training diverged"}
    monkeypatch.setattr(training, "train", boom(ValueError("plain check")))
    assert cli.main(argv) == cli.EXIT_BUG
    out, err = capsys.readouterr()
    assert '"error"' not in out and "Traceback" in err and "this is a bug, please report it" in err


# -- no user-facing plain ValueError / RuntimeError left in the engine ------------------------------
_SHAPE = "array shape or length check of a public function: the caller's bug, not the user's input"
_LIFECYCLE = "started twice or used before start: the caller's bug"
_WRITTEN = "the importer checked every row before writing: samples lost on the way are a bug"
_JPEG = "OpenCV failing to encode a valid frame is a bug, not something the user can fix"
# (file under recorder/, function) -> why a plain ValueError/RuntimeError is right there
INTERNAL_INVARIANTS = {
    ("dataset/angles.py", "angles_from_landmarks"): _SHAPE, ("dataset/angles.py", "angle_metrics"): _SHAPE,
    ("model/baselines.py", "window_features"): _SHAPE, ("capture/quality.py", "assess"): _SHAPE,
    ("model/metrics.py", "_as_joints"): _SHAPE, ("model/metrics.py", "mpjpe"): _SHAPE, ("model/metrics.py", "gesture_metrics"): _SHAPE,
    ("model/folder.py", "predict"): _SHAPE + " (evaluate and predict check the sessions against the model first)",
    ("capture/ringbuffer.py", "__init__"): _SHAPE, ("capture/ringbuffer.py", "push"): _SHAPE,
    ("capture/landmarks.py", "process"): _SHAPE, ("sources/lsl.py", "push"): _SHAPE,
    ("dataset/windows.py", "tail"): "a window view cut to more samples than it has: the caller's bug",
    ("session/format.py", "_save_landmarks"): _SHAPE + " (redetect and pose import build them from the session's frames)",
    ("session/format.py", "__init__"): "writer settings come from a source or an importer that checked them",
    ("core/clock.py", "__init__"): "the nominal rate comes from a driver or a checked option",
    ("sources/myo/bgapi.py", "encode"): "BGAPI packets are built by the driver from constants",
    ("core/worker.py", "_refuse_second_start"): _LIFECYCLE + " (camera, EMG source, landmark worker)",
    ("capture/engine.py", "start_recording"): _LIFECYCLE,
    ("core/clock.py", "times"): _LIFECYCLE,
    ("sources/replay.py", "session_to_host"): _LIFECYCLE,
    ("session/format.py", "start"): _LIFECYCLE, ("sources/synthetic.py", "truth_times"): _LIFECYCLE,
    ("model/streaming.py", "take"): "an empty loader after the dataset found windows: a bug",
    ("imports/tables.py", "_write_session"): _WRITTEN, ("imports/tables.py", "_import_csv_once"): _WRITTEN,
    ("session/format.py", "_accept"): _JPEG, ("imports/synthetic_sessions.py", "_placeholder_jpeg"): _JPEG,
}
# the firmware emulators are test and bench fixtures: their checks are the caller's bugs
INTERNAL_FOLDERS = ("sources/myo/emulator.py", "sources/cyton/emulator.py", "sources/pty_port.py")


def _is_text(node) -> bool:
    """A message written in place: a str literal, an f-string, or a concatenation / % / .format of one."""
    if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return True
    if isinstance(node, ast.BinOp):
        return _is_text(node.left) or _is_text(node.right)
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
            and _is_text(node.func.value))


class _PlainRaises(ast.NodeVisitor):
    """(function, line) of every `raise ValueError/RuntimeError("...")`, named by its innermost function."""

    def __init__(self):
        self.stack, self.found = ["<module>"], []

    def visit_FunctionDef(self, node):
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Raise(self, node):
        e = node.exc
        if (isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id in ("ValueError", "RuntimeError")
                and e.args and _is_text(e.args[0])):
            self.found.append((self.stack[-1], node.lineno))


def _plain_raises() -> dict[tuple[str, str], list[int]]:
    """{(file under recorder/, function): [lines]} of the plain raises with a written message."""
    out: dict = {}
    for path in sorted(ROOT.rglob("*.py")):
        v = _PlainRaises()
        v.visit(ast.parse(path.read_text()))
        for fn, line in v.found:
            out.setdefault((path.relative_to(ROOT).as_posix(), fn), []).append(line)
    return out


def test_engine_raises_its_own_errors_for_users():
    """A message for the user must be an EmgrecError (the CLI shows a plain ValueError as a bug):
    use the module's error class, UsageError for a bad option value, or list an internal invariant."""
    sites = _plain_raises()
    bad = sorted(f"recorder/{rel}:{lines[0]} {fn}()" for (rel, fn), lines in sites.items()
                 if (rel, fn) not in INTERNAL_INVARIANTS and not rel.startswith(INTERNAL_FOLDERS))
    assert not bad, "plain ValueError/RuntimeError with a user message (raise an EmgrecError subclass): " + ", ".join(bad)
    stale = sorted(set(INTERNAL_INVARIANTS) - set(sites))
    assert not stale, f"allow-list entries with no such raise left (remove them): {stale}"
