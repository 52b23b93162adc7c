"""The root of the engine's own exceptions.

Every error class the engine raises on purpose (bad file, bad config, device gone...) derives from
:class:`EmgrecError` as well as from the built-in it always had (``ValueError``, ``OSError``,
``RuntimeError``), so ``except EmgrecError`` catches what the engine means and existing
``except ValueError`` handlers keep working.

Cancelling is not an error: a job stopped on request raises :class:`Cancelled` (the one cancel
type of the engine and the GUI's workers), outside this root.
"""

from __future__ import annotations


class EmgrecError(Exception):
    """An error the engine raised on purpose; its message is meant for the user."""


class Cancelled(Exception):
    """A job stopped early because its cancel flag was set (not a failure: report it as cancelled)."""


class UsageError(EmgrecError, ValueError):
    """A bad command-line option or combination of options; the message names the option.

    The engine raises it too for a bad option value given to one of its functions (an unknown
    import format, a non-positive rate): such values come from the command line or a GUI field.
    """


class MissingPackageError(EmgrecError, RuntimeError):
    """An optional package the feature needs is not installed; the message says what to pip install."""
