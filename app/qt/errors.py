"""The GUI's one relay from an engine failure to the sentence a user reads.

Every dialog and view that shows a failed job calls :func:`friendly_error`; the ``action`` names
the job ("export", "import", "train" or a generic "job") and picks the wording. The engine's own
errors (:class:`recorder.core.errors.EmgrecError`) carry messages meant for the user (they name the file
and the problem), so they are shown with the action's context; OS errors say whether the file was
missing or could not be written; anything else is a bug and says its type.

A training runs in a subprocess that reports its failure as one line ``"Kind: message"``
(``recorder.model.training``'s JSON ``error`` event): :func:`friendly_error` takes that line too.
No Qt here: the relay is plain text, so it is tested without a display.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from recorder.core.errors import EmgrecError

__all__ = ["Action", "ACTIONS", "friendly_error", "error_from_line"]


@dataclass(frozen=True)
class Action:
    """How one kind of job is named in its error messages."""

    noun: str      # "Export" in "Export failed (TypeError): ..."
    verb: str      # "export" in "Cannot export: ..."
    writing: str   # "the export" in "Cannot write the export: ..."


ACTIONS = {
    "job": Action("Job", "run it", "the output"),
    "export": Action("Export", "export", "the export"),
    "import": Action("Import", "import", "the session"),
    "train": Action("Training", "train", "the model"),
}


def friendly_error(e: BaseException | str, *, action: str = "job", fmt: str = "", task: str = "") -> str:
    """One clear sentence (a paragraph for training) for a failed ``action`` (a key of :data:`ACTIONS`).

    ``e`` is the exception, or the ``"Kind: message"`` line of a training subprocess. ``fmt`` is the
    import format ("csv", ...) named when the file is not of it; ``task`` ("pose" / "gesture") says
    why a training found no windows.
    """
    if isinstance(e, str):
        e = error_from_line(e)
    a = ACTIONS[action]
    if action == "train":
        return _training(e, task)
    if action == "import":
        from recorder.imports.tables import ImportFormatError
        if isinstance(e, ImportFormatError):
            return f"Not a valid {fmt} file — {e}"
    if action == "export":
        from recorder.export.files import ExportError
        if isinstance(e, ExportError):   # the export's own errors already say what to change
            return str(e)
    if isinstance(e, (FileNotFoundError, FileExistsError, PermissionError)):
        return str(e)   # they name the file
    if isinstance(e, EmgrecError) and not isinstance(e, OSError):
        return f"Cannot {a.verb}: {e}"
    if isinstance(e, OSError):
        return f"Cannot write {a.writing}: {e}"
    if isinstance(e, ValueError):   # engine checks not yet under EmgrecError
        return f"Cannot {a.verb}: {e}"
    return f"{a.noun} failed ({type(e).__name__}): {e}"


def _training(e: BaseException, task: str) -> str:
    from recorder.session.format import SessionFormatError

    msg = str(e)
    if "no usable windows" in msg:
        why = ("pose training needs video frames with a detected hand: are the hands in view?"
               if task == "pose" else "gesture training needs labelled EMG.")
        return f"No training windows in the selected sessions: {why}\n({msg})"
    if isinstance(e, (SessionFormatError, OSError)):
        return f"A session could not be read: {msg}"
    return f"Training failed: {msg}"


def error_from_line(text: str) -> BaseException:
    """``"SessionFormatError: x.h5: not a session"`` -> that exception (an engine class loaded in
    this process or a built-in one); an unknown kind -> EmgrecError(message); a line without a kind
    -> EmgrecError(line)."""
    import recorder.session.format  # noqa: F401 - SessionFormatError, the commonest kind, is known by name
    kind, sep, msg = text.partition(": ")
    cls = _engine_classes().get(kind) or getattr(builtins, kind, None)
    if not sep or not kind.isidentifier():
        return EmgrecError(text)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        return EmgrecError(msg)   # a kind not loaded here (ConfigError lives in recorder.model.training)
    try:
        return cls(msg)
    except TypeError:   # a constructor that wants more than a message (SessionFormatError(path, problem))
        e = cls.__new__(cls)
        e.args = (msg,)   # str(e) is the message; the class keeps its meaning for isinstance
        return e


def _engine_classes() -> dict[str, type]:
    out, todo = {}, [EmgrecError]
    while todo:
        cls = todo.pop()
        out.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return out
