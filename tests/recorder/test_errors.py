"""One error root: every error class of the engine derives from EmgrecError (keeping its built-in
base), and `emgrec` turns those and OS errors into one line and exit code 1; anything else is a bug
and keeps its traceback."""
import ast
import errno
import importlib
from pathlib import Path

import pytest

import recorder
from recorder import cli
from recorder.errors import Cancelled, EmgrecError, UsageError

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
    from recorder.lag import LagError
    assert issubclass(LagError, EmgrecError) and issubclass(LagError, ValueError)


def test_command_line_mistakes_are_engine_errors():
    from recorder.commands.import_ import parse_label_names
    from recorder.commands.train import parse_sweep
    for bad in (lambda: parse_label_names("0=rest,x"), lambda: parse_sweep(["lr"])):
        with pytest.raises(UsageError):
            bad()
    assert issubclass(UsageError, ValueError)


def _run_info_raising(monkeypatch, capsys, exc):
    import recorder.commands.info as info

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
    (ValueError("plain engine check"), "plain engine check"),
])
def test_cli_prints_one_line_and_exit_code_1(monkeypatch, capsys, exc, line):
    rc, err = _run_info_raising(monkeypatch, capsys, exc)
    assert rc == 1 and err == f"emgrec info: error: {line}\n"


def test_lag_error_reaches_the_cli_as_one_line(monkeypatch, capsys):
    from recorder.lag import LagError
    rc, err = _run_info_raising(monkeypatch, capsys, LagError("s.h5: too few frames"))
    assert rc == 1 and err == "emgrec info: error: s.h5: too few frames\n"


def test_a_bug_keeps_its_traceback(monkeypatch, capsys):
    with pytest.raises(TypeError):
        _run_info_raising(monkeypatch, capsys, TypeError("unsupported operand"))
    assert cli.error_message(KeyError("k")) is None
