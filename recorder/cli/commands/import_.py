"""``emgrec import SRC [--format myo-readings|neurotron|csv|xdf] --out FILE.h5``: other tools' files ->
session (docs/import.md). XDF is recognised by content, the rest by layout; also --pose, --joints, --pattern."""

from __future__ import annotations

from recorder.core.errors import UsageError
from recorder.imports.pose import CLOCKS


def _finite(name: str, v) -> None:
    import math
    if v is not None and not math.isfinite(v):
        raise UsageError(f"{name} must be a finite number, got {v}")


def parse_label_names(text: str | None) -> dict:
    """"0=rest,1=fist" -> {0: "rest", 1: "fist"}; "rest,fist" (no codes) -> {0: "rest", 1: "fist"};
    a clear error for anything else."""
    out: dict = {}
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    if parts and not any("=" in p for p in parts):
        return dict(enumerate(parts))
    for part in parts:
        code, sep, name = part.partition("=")
        try:
            key = float(code)
        except ValueError:
            key = None
        if not sep or key is None or not name.strip():
            raise UsageError(f"--label-names expects CODE=NAME,..., e.g. 0=rest,1=fist; got {part!r}")
        out[int(key) if key.is_integer() else key] = name.strip()
    return out


def register(subparsers) -> None:
    p = subparsers.add_parser("import", help="import EMG (and pose) from other tools' files into a session file",
                              description="Import other tools' recordings into a session file (docs/import.md). "
                                          "Formats: myo-readings (a k.txt or a session folder of 0.txt..7.txt), "
                                          "neurotron (Myo 50 Hz CSV), csv (give --emg-columns and --rate or "
                                          "--time-column); detected when --format is not given. Also: --pose "
                                          "(EMG + pose files with their own clocks), --joints (one table of EMG "
                                          "and 3-D joints), --pattern (a dataset folder).")
    p.add_argument("src", help="source file (or myo-readings session folder); with --pose, the EMG file")
    p.add_argument("--format", choices=["myo-readings", "neurotron", "csv", "xdf"],
                   help="source layout (default: detected; XDF by content; ignored with --pose)")
    p.add_argument("--stream", help="xdf: EMG stream by name or type (default: the one stream of type EMG)")
    p.add_argument("--out", required=True, help="session file to write (.h5)")
    p.add_argument("--rate", type=float, help="sample rate, Hz (csv; required without --time-column)")
    p.add_argument("--emg-columns", help="csv: columns, 0-based numbers or header names, e.g. 0-7 or ch1,ch2")
    p.add_argument("--time-column", help="csv: column of sample times")
    p.add_argument("--time-unit", default="s", choices=["s", "ms", "us", "ns"])
    p.add_argument("--label-column", help="csv: column of per-sample class codes or text labels")
    p.add_argument("--label-names", help="names of numeric label codes, 0=rest,1=fist,2=pinch (or rest,fist,pinch "
                                         "for 0, 1, 2); xdf: the marker vocabulary, each such marker starts a label")
    p.add_argument("--delimiter", default=",")
    p.add_argument("--units", default="counts")
    p.add_argument("--scale-to-uv", type=float, default=float("nan"), help="microvolts per raw unit")
    p.add_argument("--subject", default="")
    p.add_argument("--notes", default="")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    d = p.add_argument_group("dataset folders (--pattern), see docs/import.md")
    d.add_argument("--pattern", help="file-name pattern of recordings under SRC (a folder or glob), e.g. "
                                     "'R_{rep}_C_{class}.csv' or 'classe_{class}.dat'; {class} names the label")
    d.add_argument("--per", default="folder", choices=["folder", "recording"],
                   help="one session per folder (recordings joined with gaps) or per recording file")
    d.add_argument("--channels", type=int, help="channels of binary .dat recordings (interleaved)")
    d.add_argument("--dat-dtype", default="<i2", help="sample type of .dat files (default <i2: little-endian int16)")
    j = p.add_argument_group("one table with EMG and 3-D joints on the same rows (--joints), see docs/import.md")
    j.add_argument("--joints", help="joint naming: seed (Leap-style 'Thumb Proximal x', our CSV export), mediapipe "
                                    "('index_finger_tip_x'), numbered ('x0'), or 21 comma-separated names in "
                                    "MediaPipe order (with --joint-column)")
    j.add_argument("--joint-column", help="column name template for --joints names, e.g. '{joint}_{axis}'")
    j.add_argument("--joint-columns", help="63 joint columns by position instead of names, e.g. 9-71")
    j.add_argument("--layout", default="interleaved", choices=["interleaved", "blocks"],
                   help="--joint-columns order: x0 y0 z0 x1 ... (interleaved) or x0..x20 y0.. z0.. (blocks)")
    j.add_argument("--joint-units", choices=["mm", "m"], help="units of the joint coordinates (default: the preset's)")
    j.add_argument("--frame-time-column", help="column of frame times (one frame per distinct value)")
    g = p.add_argument_group("paired EMG + pose files (--pose), see docs/import.md")
    g.add_argument("--pose", help="pose file (joint angles, degrees) with its own time column")
    g.add_argument("--pose-columns", help="angle columns (default: all but the time)")
    g.add_argument("--pose-time-column", help="time column of the pose file (default: time/timestamp, else the first)")
    g.add_argument("--emg-clock", default="auto", choices=list(CLOCKS), help="clock of the EMG time column")
    g.add_argument("--pose-clock", default="auto", choices=list(CLOCKS), help="clock of the pose time column")
    g.add_argument("--date", help="YYYY-MM-DD for a time-of-day clock when the other file has no date")
    g.add_argument("--date-order", default="ymd", choices=["ymd", "dmy", "mdy"], help="field order of dates")
    g.add_argument("--pose-offset", type=float, default=0.0, help="seconds added to the pose clock")
    g.add_argument("--resample", type=float, help="EMG rate to resample to, Hz (default: mean rate of distinct rows)")
    g.add_argument("--resample-method", default="previous", choices=["previous", "linear", "nearest"],
                   help="previous: last row at or before each sample time (causal, default); linear; nearest")
    g.add_argument("--max-gap", type=float, default=0.25, help="EMG intervals longer than this (s) become gaps")
    g.add_argument("--angle-definition", default="", help="what the pose file's angles measure (stored in the file)")
    g.add_argument("--hand", default="", help="recorded hand (left/right)")
    p.set_defaults(func=run)


def run(args) -> int:
    from recorder.imports import job as import_job, tables as importers

    fmt, options = _format_and_options(args, importers)
    if args.format is None and fmt not in ("paired", "table", "folder"):
        fmt = import_job.guess_format(args.src, strict=True)
        if fmt == "csv" and not args.emg_columns:
            raise UsageError(f"{args.src}: cannot tell its format by content; give --format "
                             f"myo-readings|neurotron|xdf, or --emg-columns for a CSV")
        print(f"format: {fmt} (detected; give --format to choose)")
    if fmt == "csv" and not args.emg_columns:
        raise UsageError("--format csv needs --emg-columns")
    result = import_job.import_to_session(args.src, args.out, fmt, force=args.force, **_for_format(fmt, args, options))
    if result.alignment is not None:
        from recorder.imports.pose import describe_alignment
        print("alignment: " + describe_alignment(result.alignment))
    for path, s in zip(result.paths, result.summaries):
        print(f"wrote {path}: {s['samples']} samples x {s['channels']} channels, {s['duration_s']:.1f} s, "
              f"{s['labels']} labels, {s['gaps']} gaps")
    return 0


def _format_and_options(args, importers) -> tuple[str | None, dict]:
    """The format the flags choose (None: detect) and the checks that need no file."""
    if args.pattern:
        if args.rate is None:
            raise UsageError("--pattern needs --rate (the recordings carry no times)")
        _finite("--rate", args.rate)
        cols = None
        if args.emg_columns:
            cols = importers._parse_columns(args.emg_columns)
            if not all(isinstance(c, int) for c in cols):
                raise UsageError("--emg-columns with --pattern takes column numbers, e.g. 0-7")
        return "folder", {"emg_columns": cols}
    for name in ("rate", "resample", "pose_offset", "max_gap"):
        _finite("--" + name.replace("_", "-"), getattr(args, name))
    if args.rate is not None and args.rate <= 0:
        raise UsageError(f"--rate must be positive, got {args.rate}")
    if args.joints or args.joint_columns:
        if not args.emg_columns:
            raise UsageError("--joints needs --emg-columns")
        return "table", {}
    if args.pose:
        return "paired", {}
    return args.format, {}


def _for_format(fmt: str, args, options: dict) -> dict:
    """The importer's keyword arguments for ``fmt`` from the command-line flags."""
    common = dict(subject=args.subject, notes=args.notes)
    if fmt == "folder":
        return dict(pattern=args.pattern, sample_rate_hz=args.rate, per=args.per, channels=args.channels,
                    emg_columns=options["emg_columns"], label_names=parse_label_names(args.label_names),
                    delimiter=args.delimiter, dat_dtype=args.dat_dtype, units=args.units,
                    scale_to_uV=args.scale_to_uv, **common)
    if fmt == "table":
        from recorder.imports.pose import PRESETS
        preset = args.joints if args.joints in PRESETS else None
        names = [n.strip() for n in args.joints.split(",")] if args.joints and preset is None else None
        return dict(emg_columns=args.emg_columns, preset=preset, joints=names, column=args.joint_column,
                    pose_columns=args.joint_columns, layout=args.layout, units=args.joint_units,
                    time_column=args.time_column, clock=args.emg_clock, frame_time_column=args.frame_time_column,
                    sample_rate_hz=args.rate, label_column=args.label_column, emg_units=args.units,
                    scale_to_uV=args.scale_to_uv, hand=args.hand, delimiter=args.delimiter, **common)
    if fmt == "paired":
        return dict(pose_file=args.pose, emg_columns=args.emg_columns, emg_time_column=args.time_column,
                    pose_time_column=args.pose_time_column, pose_columns=args.pose_columns, emg_clock=args.emg_clock,
                    pose_clock=args.pose_clock, date=args.date, date_order=args.date_order,
                    pose_offset_s=args.pose_offset, resample_hz=args.resample, resample_method=args.resample_method,
                    max_gap_s=args.max_gap, units=args.units, scale_to_uV=args.scale_to_uv,
                    angle_definition=args.angle_definition, hand=args.hand, delimiter=args.delimiter, **common)
    if fmt == "xdf":
        names = list(parse_label_names(args.label_names).values()) if args.label_names else None
        return dict(stream=args.stream, label_names=names, **common)
    if fmt in ("myo-readings", "neurotron"):
        return common
    return dict(sample_rate_hz=args.rate, emg_columns=args.emg_columns, time_column=args.time_column,
                time_unit=args.time_unit, label_column=args.label_column,
                label_names=parse_label_names(args.label_names), delimiter=args.delimiter, units=args.units,
                scale_to_uV=args.scale_to_uv, **common)
