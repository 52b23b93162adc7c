"""``emgrec export``: sessions to training arrays (npz/h5), the seed project's CSV, or MP4 video."""

from __future__ import annotations

import sys

from recorder.core.errors import UsageError


def register(subparsers) -> None:
    from recorder.export.files import FORMATS, TARGETS

    p = subparsers.add_parser(
        "export", help="export sessions: " + "; ".join(f"{t.name}: {t.description}" for t in TARGETS.values()),
        description=__doc__ + " npz/h5 merge all sessions into OUT; csv/mp4 write OUT for one session, "
                              "else one file per session in the folder OUT; bids writes the EMG-BIDS dataset "
                              "folder OUT. Layouts: docs/export.md.")
    p.add_argument("sessions", nargs="+", metavar="SESSION", help="session files (.h5)")
    p.add_argument("--format", "-f", dest="fmt", choices=FORMATS,
                   help="output format (default: from the OUT suffix)")
    p.add_argument("--out", "-o", required=True, help="output file (or folder for several csv/mp4 exports)")
    p.add_argument("--window-ms", type=float, default=200.0, help="EMG window length in ms (default: 200)")
    p.add_argument("--task", choices=("auto", "pose", "gesture"), default="auto",
                   help="npz/h5: pose (with 63 targets) or gesture windows (default: auto)")
    p.add_argument("--normalise", action="store_true",
                   help="npz/h5: store X normalised per channel (the statistics are in the manifest either way)")
    p.add_argument("--split", choices=("time", "blocks", "session", "none"), default="time",
                   help="npz/h5: split stored per window (default: time blocks)")
    p.add_argument("--model", metavar="DIR", help="mp4: draw this pose model's prediction beside the recorded hand")
    p.add_argument("--task-label", default="capture", help="bids: the task label of the file names (default: capture)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--force", action="store_true",
                   help="replace OUT if it exists (never one of the SESSION files, even with --force)")
    p.set_defaults(func=_handler)


def _handler(args) -> int:
    from pathlib import Path

    from recorder.export.files import FORMATS, TARGETS, export, format_from_suffix
    from recorder.core.types import Progress

    fmt = args.fmt or format_from_suffix(args.out) or Path(args.out).suffix.lstrip(".").lower()
    if fmt not in TARGETS:
        raise UsageError(f"cannot tell the format from {args.out!r}: give --format {'|'.join(FORMATS)}")
    last = [-1]

    def progress(p: Progress) -> None:
        pct = int(p.fraction * 100)
        if not args.quiet and pct != last[0]:
            last[0] = pct
            print(f"\r{pct:3d}% {p.text[:70]:70}", end="", file=sys.stderr, flush=True)

    options = {}
    if fmt in ("npz", "h5"):
        options = dict(task=args.task, normalise=args.normalise, split=args.split)
    elif fmt == "bids":
        options = dict(task=args.task_label)
    results = export(args.sessions, args.out, fmt, window_ms=args.window_ms, model_dir=args.model,
                     progress=progress, overwrite=args.force, **options)
    if not args.quiet:
        print(file=sys.stderr)
    for r in results:
        print(f"{r.path}: {r.items} {TARGETS[r.format].unit}")
    return 0
