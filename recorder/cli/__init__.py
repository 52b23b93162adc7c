"""The ``emgrec`` command line (emgrec) and one module per subcommand (commands)."""

from recorder.cli.emgrec import main

__all__ = ["main"]
