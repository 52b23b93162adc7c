"""``emgrec gui``: open the desktop app (PySide6), connected to the given sources."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("gui", help="open the desktop recording app",
                              description="Open the desktop app and connect the given sources.")
    from recorder.sources.factory import EMG_SPEC_HELP
    p.add_argument("--emg", default="synthetic", help=f"EMG source: {EMG_SPEC_HELP} (default: synthetic)")
    p.add_argument("--camera", default="synthetic",
                   help="camera: synthetic | none | webcam index | video file (default: synthetic)")
    from recorder.cli.commands import add_realism_argument
    add_realism_argument(p, None, "the app's last choice, realistic at first")
    p.add_argument("--no-connect", action="store_true", help="open without connecting")
    p.add_argument("--settings", help="INI file for settings (default: the user's settings)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    # The engine never imports the GUI (docs/architecture.md): the app runs as its own program.
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "app", "--emg", args.emg, "--camera", args.camera]
    if args.realism:
        cmd += ["--realism", args.realism]
    if args.no_connect:
        cmd.append("--no-connect")
    if args.settings:
        cmd += ["--settings", args.settings]
    return subprocess.call(cmd)
