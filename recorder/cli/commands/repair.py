"""``emgrec repair FILE.h5``: finalise a session whose recorder died, in place, so any HDF5 reader
(h5py without SWMR, HDFView, MATLAB, the HDF5 1.10 tools) opens it; ``--compat`` also rewrites a
closed file written in the newest HDF5 format (by emgrec before the format was pinned) into the
1.10 format."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "repair", help="finalise a crashed session in place (or rewrite it for older HDF5 readers)",
        description="Finalise a session whose recorder died: its readable rows are copied into a new file, "
                    "checked against the original, and only then renamed over it (permissions kept). "
                    "A session being recorded is refused.")
    p.add_argument("files", nargs="+", metavar="FILE", help="session files (.h5)")
    p.add_argument("--compat", action="store_true",
                   help="also rewrite normally closed files written in the newest HDF5 format into the "
                        "HDF5 1.10 format (readable by HDF5 >= 1.10), and older files whose attributes have no "
                        "checksum")
    p.set_defaults(func=run)


def run(args) -> int:
    from recorder.session.format import repair

    for f in args.files:
        r = repair(f, compat=args.compat)
        what = {"recovered": "finalised (its writer had died)", "rewritten": "rewritten in the HDF5 1.10 format",
                "none": "closed normally, nothing to repair"}[r["action"]]
        print(f"{r['path']}: {what}; {r['duration_s']:.1f} s, {r['samples']} samples, {r['frames']} frames")
        if r["old_format"]:
            print(f"  written in the newest HDF5 format (HDF5 1.10 readers cannot open it): "
                  f"emgrec repair --compat {f}")
        if r.get("unchecked_attrs"):
            print(f"  root attributes without a checksum (older file): emgrec repair --compat {f} adds one")
    return 0
