"""``emgrec info FILE.h5``: what a session file holds, as a readable table."""

from __future__ import annotations

import math


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="summarise a session file",
                              description="Print what a session file holds (duration, rates, frames, labels, ...).")
    p.add_argument("file", help="session file (.h5)")
    p.add_argument("--labels", action="store_true", help="also list every label and marker")
    p.set_defaults(func=run)


def _fmt(v) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.3f}".rstrip("0").rstrip(".")
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return str(v)


def format_summary(s: dict, labels=(), markers=()) -> str:
    """The ``emgrec info`` table as text."""
    mb = s["file_bytes"] / 1e6
    rows = [
        ("file", s["path"]),
        ("format", f"v{s['format_version']} (emgrec {s['software_version']}), created {s['created_utc']}"),
        ("closed normally", s.get("closed", s["complete"])),
        *([("attributes", "no checksum (older file; emgrec repair --compat adds one)")]
          if s.get("attrs_checksum", "verified") != "verified" else []),
        ("subject / hand", f"{s['subject'] or '-'} / {s['hand'] or '-'}"),
        ("device", s["device"] or "-"),
        ("duration", f"{_fmt(s['duration_s'])} s"),
        ("EMG", f"{s['samples']} samples x {s['channels']} channels, {s['emg_dtype']} {s['units']}"),
        ("rate", f"{_fmt(s['sample_rate_hz'])} Hz nominal, {_fmt(s['measured_rate_hz'])} Hz measured"),
        ("channels", s["channel_names"]),
        ("scale", f"{_fmt(s['scale_to_uV'])} uV per unit"),
        ("gaps", f"{s['gaps']} ({_fmt(s['gap_total_s'])} s)"),
        ("video", f"{s['frames']} frames, {_fmt(s['fps'])} fps, {s['frames_with_hand']} with a hand"
                  + (f", {s['frames_with_image']} with an image" if s.get('frames_with_image', s['frames']) < s['frames']
                     else "")),
        *([("landmarks", f"{s['frames_with_hand']} with a hand, "
                         f"{s['frames'] - s['frames_with_hand'] - s['frames_never_processed']} processed without a hand, "
                         f"frames never processed: {s['frames_never_processed']}")]
          if s["frames"] and "frames_never_processed" in s else []),
        ("labels", s["labels"]),
        ("markers", s["markers"]),
        ("size", f"{mb:.1f} MB"),
    ]
    if s.get("angle_names"):
        rows.append(("joint angles", f"{len(s['angle_names'])} per frame (deg): {', '.join(s['angle_names'])}"))
    for key, name in (("alignment", "alignment"), ("emg_resampling", "resampling")):
        if s.get(key):
            rows.append((name, s[key]))
    if s["notes"]:
        rows.append(("notes", s["notes"]))
    w = max(len(k) for k, _ in rows)
    lines = [f"{k:<{w}}  {_fmt(v)}" for k, v in rows]
    if labels:
        lines.append("")
        lines += [f"  label  {a:9.3f} - {b:9.3f} s  {name}" for a, b, name in labels]
    if markers:
        lines += [f"  marker {t:9.3f} s  {text}" for t, text in markers]
    return "\n".join(lines)


def _label_checks(r) -> str:
    """What `emgrec train --clean` would mask in this file, with the default thresholds."""
    import numpy as np

    from recorder.dataset.clean import clean_mask
    world = np.asarray(r.landmarks_world[:], np.float32)
    has = np.isfinite(world).all(axis=(1, 2))
    _, c = clean_mask(r.video_t, world if has.any() else None, np.asarray(r.landmarks_score[:]),
                      np.asarray(r.handedness), r.angles)
    rules = ", ".join(f"{k} {v}" for k, v in c.items() if k not in ("frames", "removed"))
    return f"{'label checks':<16} {c['removed']} of {c['frames']} frames flagged ({rules}; train --clean masks them)"


def run(args) -> int:
    from recorder.session.format import SessionReader
    from recorder.session.writelock import holder

    with SessionReader(args.file) as r:
        labels = r.labels
        s = r.summary()
        busy = holder(args.file)
        if busy is not None:
            s["closed"] = f"no: open for writing by {busy.get('purpose', 'a writer')} (process {busy.get('pid', '?')})"
        elif r.opened_swmr:  # flagged open, nobody writing: its writer died
            s["closed"] = f"no: not closed: {s['duration_s']:.1f} s recoverable (emgrec repair {args.file})"
        print(format_summary(s, labels if args.labels else labels[:10], r.markers if args.labels else ()))
        if r.n_frames:
            print(_label_checks(r))
        if not args.labels and len(labels) > 10:
            print(f"  ... {len(labels) - 10} more labels (--labels lists all)")
    return 0
