"""``emgrec gui``: open the desktop app (PySide6), connected to the given sources."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("gui", help="open the desktop recording app",
                              description="Open the desktop app and connect the given sources.")
    p.add_argument("--emg", default="synthetic",
                   help="EMG source: synthetic | myo:PORT | myo50:PORT | cyton:PORT | replay:FILE | lsl:NAME "
                        "(default: synthetic)")
    p.add_argument("--camera", default="synthetic",
                   help="camera: synthetic | none | webcam index | video file (default: synthetic)")
    p.add_argument("--no-connect", action="store_true", help="open without connecting")
    p.add_argument("--settings", help="INI file for settings (default: the user's settings)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    # The engine never imports the GUI at module level (ARCHITECTURE.md); only this handler does.
    try:
        from app.__main__ import run
    except ImportError as e:
        raise RuntimeError(f"the desktop app needs PySide6 and pyqtgraph: {e}") from e
    return run(args.emg, args.camera, not args.no_connect, args.settings)
