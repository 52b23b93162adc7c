"""``emgrec import SRC [--format myo-readings|neurotron|csv|xdf] --out FILE.h5``: EMG files -> session.
XDF is recognised by content; the other formats need --format."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("import", help="import EMG from CSV/text files into a session file",
                              description="Import EMG (no video) into a session file. Formats: myo-readings "
                                          "(a k.txt or a session folder of 0.txt..7.txt), neurotron (Myo 50 Hz CSV), "
                                          "csv (anything else: give --emg-columns and --rate or --time-column), "
                                          "xdf (LabRecorder; recognised by content: EMG, markers, labels).")
    p.add_argument("src", help="source file (or myo-readings session folder)")
    p.add_argument("--format", choices=["myo-readings", "neurotron", "csv", "xdf"],
                   help="source format (XDF is recognised by content without it)")
    p.add_argument("--stream", help="xdf: EMG stream by name or type (default: the one stream of type EMG)")
    p.add_argument("--label-names", help="xdf: comma-separated marker vocabulary; each such marker starts a label")
    p.add_argument("--out", required=True, help="session file to write (.h5)")
    p.add_argument("--rate", type=float, help="sample rate, Hz (csv; required without --time-column)")
    p.add_argument("--emg-columns", help="csv: columns, 0-based numbers or header names, e.g. 0-7 or ch1,ch2")
    p.add_argument("--time-column", help="csv: column of sample times")
    p.add_argument("--time-unit", default="s", choices=["s", "ms", "us", "ns"])
    p.add_argument("--label-column", help="csv: column of per-sample class codes")
    p.add_argument("--delimiter", default=",")
    p.add_argument("--units", default="counts")
    p.add_argument("--scale-to-uv", type=float, default=float("nan"), help="microvolts per raw unit")
    p.add_argument("--subject", default="")
    p.add_argument("--notes", default="")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import importers
    from ..writelock import check_output

    out = check_output(args.out, [args.src], force=args.force, what="import output")
    fmt = args.format
    if fmt is None:
        from ..xdf_import import is_xdf
        if is_xdf(args.src):
            fmt = "xdf"
        else:
            raise ValueError(f"{args.src}: cannot tell its format by content; give --format myo-readings|neurotron|csv|xdf")
    if fmt == "xdf":
        from ..xdf_import import import_xdf
        names = [n.strip() for n in args.label_names.split(",") if n.strip()] if args.label_names else None
        path = import_xdf(args.src, out, stream=args.stream, label_names=names, subject=args.subject, notes=args.notes)
    elif fmt == "myo-readings":
        path = importers.import_myo_readings(args.src, out, subject=args.subject, notes=args.notes)
    elif fmt == "neurotron":
        path = importers.import_neurotron(args.src, out, subject=args.subject, notes=args.notes)
    else:
        if not args.emg_columns:
            raise ValueError("--format csv needs --emg-columns")
        path = importers.import_csv(args.src, out, rate_hz=args.rate, emg_columns=args.emg_columns,
                                    time_column=args.time_column, time_unit=args.time_unit,
                                    label_column=args.label_column, delimiter=args.delimiter, units=args.units,
                                    scale_to_uV=args.scale_to_uv, subject=args.subject, notes=args.notes)
    from ..session import SessionReader
    with SessionReader(path) as r:
        s = r.summary()
    print(f"wrote {path}: {s['samples']} samples x {s['channels']} channels, {s['duration_s']:.1f} s, "
          f"{s['labels']} labels, {s['gaps']} gaps")
    return 0
