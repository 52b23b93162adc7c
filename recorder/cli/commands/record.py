"""emgrec record: headless recording with progress on the terminal; Ctrl-C stops and keeps the file."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path


def register(sub) -> None:
    from recorder.cli.commands import add_realism_argument
    from recorder.sources.factory import EMG_SPEC_HELP
    p = sub.add_parser("record", help="record EMG (+ camera and hand landmarks) into a session file",
                       description="Record a session. Ctrl-C stops cleanly and keeps the file.")
    p.add_argument("--emg", default="synthetic", help=f"EMG source: {EMG_SPEC_HELP} (default: synthetic)")
    p.add_argument("--camera", default="synthetic",
                   help="camera: synthetic | none | webcam index | video file | image folder (default: synthetic)")
    p.add_argument("--landmarks", default="auto", choices=["auto", "mediapipe", "truth", "none"],
                   help="hand landmarks: auto = the synthetic camera's own (exact, or MediaPipe-like with "
                        "--realism realistic), MediaPipe otherwise")
    p.add_argument("--duration", type=float, default=None, help="seconds to record (default: until Ctrl-C)")
    p.add_argument("--out", type=Path, default=None,
                   help="session file (default: ~/emgrec-sessions/session-DATE.h5, the app's folder)")
    p.add_argument("--subject", default="", help="subject id saved in the file")
    p.add_argument("--hand", default="right", help="recorded hand/arm")
    p.add_argument("--notes", default="", help="free-text notes saved in the file")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic subject")
    add_realism_argument(p)
    p.add_argument("--force", action="store_true", help="replace --out if it exists (never one being recorded)")
    p.add_argument("--store-video", default="jpeg", choices=["jpeg", "none"],
                   help="jpeg: store camera frames; none: frame times and landmarks only (privacy, size)")
    p.set_defaults(func=run)


def run(args) -> int:
    from recorder.core.units import human_size
    from recorder.capture.engine import Capture
    from recorder.sources.base import DeviceError
    from recorder.session.format import SessionReader
    from recorder.session.writelock import check_output, unique_path

    # Refused before any device starts: an existing file without --force, or one being written.
    out = (check_output(args.out, force=args.force, what="recording") if args.out
           else unique_path(Path.home() / "emgrec-sessions", "session"))
    writer = None
    stop = threading.Event()
    prev = signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cap = Capture.from_specs(args.emg, args.camera, args.landmarks, seed=args.seed, realism=args.realism)
    try:
        # A video file or image folder starts with the recording clock, so its first frame is stored.
        from_file = getattr(cap.camera, "kind", "") in ("video", "images")
        cap.start(camera=not from_file)
        # Wait for the device to stream before the clock starts, so the file starts with data.
        deadline = time.monotonic() + 15
        while cap.emg_buffer.total == 0 and not stop.is_set():
            st = cap.emg.status()
            if st.state.value == "error":
                raise DeviceError(f"{cap.emg.kind}: {st.last_error}")
            if time.monotonic() > deadline:
                raise DeviceError(f"no EMG from {args.emg} after 15 s ({st.state.value}: {st.last_error})")
            stop.wait(0.05)
        # overwrite=False unless --force: a file created there while the device connected is kept.
        cap.start_recording(out, {"subject": args.subject, "hand": args.hand, "notes": args.notes},
                            overwrite=args.force, store_video=args.store_video)
        cap.start_camera()
        writer = cap._writer
        tty = sys.stderr.isatty()
        # Wake at the duration, not at the next 0.5 s tick after it (that overshot by up to 0.5 s).
        while not stop.wait(0.5 if args.duration is None else min(0.5, max(0.0, args.duration - cap.elapsed_s))):
            s = cap.status()
            rec, emg = s["recording"] or {}, s["emg"]
            lm = s["landmarks"] or {}
            line = (f"{cap.elapsed_s:7.1f} s  emg {emg.measured_rate_hz:6.1f} Hz  samples {rec.get('samples', 0)}"
                    f"  lost {emg.samples_lost}  frames {rec.get('frames', 0)}"
                    f"  lm {lm.get('fps', 0):4.1f} fps  {human_size(rec.get('bytes', 0))}  [{emg.state.value}]")
            print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
            if cap._writer is not None and cap._writer.error is not None:
                print(f"\nrecording stopped: {cap._writer.error}", file=sys.stderr)
                break
            if args.duration is not None and cap.elapsed_s >= args.duration:
                break
    finally:
        signal.signal(signal.SIGINT, prev)
        path = cap.stop_recording()
        cap.stop()
    if path is None:
        return 1
    print(file=sys.stderr)
    with SessionReader(path) as r:
        s = r.summary()
    print(f"saved {path}: {s.get('duration_s', 0):.1f} s, {s.get('samples', s.get('emg_samples', '?'))} EMG samples, "
          f"{s.get('frames', '?')} frames")
    if writer is not None and writer.error is not None:  # disk full, write error: the file is not all of it
        print(f"emgrec record: error: recording stopped early: {writer.error}", file=sys.stderr)
        return 1
    return 0
