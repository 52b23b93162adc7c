"""``emgrec bench``: run the benchmark and fault-tolerance suite (``python -m bench``)."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="run benchmarks and fault cases; writes bench/RESULTS.md",
                              description="Runs python -m bench from the source tree (the bench/ folder "
                                          "is not installed with the package).")
    p.add_argument("--quick", action="store_true", help="short run (a few minutes), as CI does")
    p.add_argument("--only", help="comma-separated groups (faults, acquisition, storage, landmarks, models, gui, export)")
    p.add_argument("--soak-s", type=float, help="acquisition soak seconds")
    p.add_argument("--out", help="folder for RESULTS.md and results.json (default bench/)")
    p.set_defaults(func=handler)


def handler(args) -> int:
    try:
        from bench.__main__ import main
    except ImportError as e:
        raise SystemExit(f"emgrec bench needs the source tree (bench/ next to recorder/): {e}") from None
    argv = ["--quick"] if args.quick else []
    for flag, val in (("--only", args.only), ("--soak-s", args.soak_s), ("--out", args.out)):
        if val is not None:
            argv += [flag, str(val)]
    return main(argv)
