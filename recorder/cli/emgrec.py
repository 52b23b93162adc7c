"""``emgrec`` command line. Each subcommand lives in a module of :mod:`recorder.cli.commands`
that defines ``register(subparsers)``; the module's handler is set with ``set_defaults(func=...)``
and returns an exit code."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import re
import sys
import traceback

from recorder import __version__
from recorder.cli import commands
from recorder.core.errors import EmgrecError


def plain(text: str | None) -> str | None:
    """A docstring as help text: no reST markup (``x`` -> x, :mod:`x` -> x)."""
    if not text:
        return text
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="emgrec", description="Record forearm EMG with webcam hand landmarks on one clock; label, train, "
                                   "evaluate and export. 'emgrec COMMAND --help' describes each command.")
    p.add_argument("--version", action="version", version=f"emgrec {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for m in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"{commands.__name__}.{m.name}")
        mod.register(sub)
    for cmd in sub.choices.values():   # descriptions taken from module docstrings
        cmd.description = plain(cmd.description)
    return p


EXIT_ERROR = 1   # an expected failure (bad file, device, option); 2 is argparse's usage error
EXIT_BUG = 70    # an unexpected exception (EX_SOFTWARE of sysexits.h): a traceback was printed
BUG_LINE = "this is a bug, please report it"


def error_message(e: BaseException) -> str | None:
    """The one line ``emgrec`` prints for an expected failure, or None for a bug (shown as a traceback).

    The engine's own errors (:class:`~recorder.core.errors.EmgrecError`, command-line mistakes included)
    are shown as they are: their messages name the file or option. An OS error (disk full, no
    permission, missing file) names its file as ``FILE: reason``. Anything else (a plain ValueError
    or RuntimeError included) is a bug.
    """
    if isinstance(e, EmgrecError):
        return str(e)
    if isinstance(e, OSError):
        if e.filename is None or not e.strerror:
            return str(e)
        files = f"{e.filename} -> {e.filename2}" if e.filename2 is not None else f"{e.filename}"
        return f"{files}: {e.strerror}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`emgrec info FILE | head`): stop quietly, as Unix tools
        # do. Point stdout at /dev/null so the interpreter's final flush does not fail again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141  # 128 + SIGPIPE, what a shell reports for a killed pipeline member
    except Exception as e:
        message = error_message(e)
        if message is not None and args.verbose:
            raise   # -v: the traceback of an expected failure too
        if message is None:   # a bug: the traceback is what helps
            traceback.print_exc()
            print(f"emgrec {args.command}: {BUG_LINE} ({type(e).__name__}: {e})", file=sys.stderr)
            return EXIT_BUG
        print(f"emgrec {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
