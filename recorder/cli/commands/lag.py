"""emgrec lag: estimate the EMG-to-video lag of session files and optionally store it in them."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("lag", help="estimate (and store) the EMG-to-video lag of sessions",
                       description="Estimate per session the delay between the EMG and the landmarks "
                                   "(electromechanical delay + camera latency; see docs/models.md). "
                                   "--write stores it in the file (attribute emg_video_lag_s), where "
                                   "training applies it (data.lag: stored, the default).")
    p.add_argument("sessions", nargs="+", type=Path, help="session files (.h5) with landmarks")
    p.add_argument("--write", action="store_true", help="store the estimate in each session file")
    p.set_defaults(func=run)


def run(args) -> int:
    from recorder.dataset.windows import read_session
    from recorder.dataset.lag import estimate_session_lag, write_lag

    for path in args.sessions:
        s = read_session(path)
        r = estimate_session_lag(s)
        stored = f" (stored was {s.lag_s * 1e3:.1f} ms)" if s.lag_s == s.lag_s else ""
        print(f"{path}: lag {r['lag_s'] * 1e3:.1f} ms (fit R^2 {r['r2']:.3f}, at 0 ms {r['r2_at_zero']:.3f}){stored}")
        if args.write:
            write_lag(path, r["lag_s"])
    return 0
