"""``emgrec redetect FILE.h5``: run MediaPipe Hands again on a session's stored frames and replace
its landmarks (what the Review tab's "Re-run hands" does)."""

from __future__ import annotations


def register(subparsers) -> None:
    from recorder.capture.redetect import DEFAULT_OPTIONS
    p = subparsers.add_parser(
        "redetect", help="re-run hand detection on a session's stored frames, replacing its landmarks",
        description="Run MediaPipe Hands on every stored video frame of each session, in order, and replace "
                    "the session's landmarks. EMG, video and labels are not changed; a session being "
                    "recorded is refused; Ctrl-C stops without writing.")
    p.add_argument("files", nargs="+", metavar="FILE", help="session files (.h5)")
    p.add_argument("--model-complexity", type=int, choices=(0, 1), default=DEFAULT_OPTIONS["model_complexity"],
                   help="0 (lite, faster) or 1 (full) (default %(default)s)")
    p.add_argument("--min-detection-confidence", type=float, default=DEFAULT_OPTIONS["min_detection_confidence"],
                   metavar="X", help="0..1 (default %(default)s)")
    p.add_argument("--min-tracking-confidence", type=float, default=DEFAULT_OPTIONS["min_tracking_confidence"],
                   metavar="X", help="0..1 (default %(default)s)")
    p.add_argument("--static", action="store_true", help="detect on every frame (no tracking between frames)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from recorder.capture.redetect import redetect
    from recorder.core.types import Progress

    opts = dict(model_complexity=args.model_complexity, min_detection_confidence=args.min_detection_confidence,
                min_tracking_confidence=args.min_tracking_confidence, static_image_mode=args.static)
    for f in args.files:
        def progress(p: Progress, f=f) -> None:
            done, total = int(p.done), int(p.total)
            if done == total or done % 100 == 0:
                print(f"\r{f}: {done}/{total} frames", end="", file=sys.stderr, flush=True)
        r = redetect(f, opts, progress=progress)
        print(file=sys.stderr)
        print(f"{f}: {r['frames']} frames, a hand in {r['hands_after']} (before: {r['hands_before']})")
    return 0
