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
    from recorder.dataset.lag import TRUST_CI_WIDTH_S, estimate_session_lag, write_lag

    for path in args.sessions:
        s = read_session(path)
        r = estimate_session_lag(s)
        stored = f" (stored was {s.lag_s * 1e3:.1f} ms)" if s.lag_s == s.lag_s else ""
        lo, hi = r["ci_s"]
        print(f"{path}: lag {r['lag_s'] * 1e3:.1f} ms, 95 % interval {lo * 1e3:.1f} to {hi * 1e3:.1f} ms "
              f"({r['n_blocks']} segments over {r['span_s']:.0f} s; fit R^2 {r['r2']:.3f}, at 0 ms "
              f"{r['r2_at_zero']:.3f}){stored}")
        if r["at_edge"]:
            print(f"  warning: the best lag is at the end of the searched range ({r['lags_s'][0] * 1e3:.0f} to "
                  f"{r['lags_s'][-1] * 1e3:.0f} ms), so it is no estimate: the pose may not follow this EMG")
        elif not r["trusted"]:
            print(f"  warning: the interval is wider than {TRUST_CI_WIDTH_S * 1e3:.0f} ms, so this lag is not to be "
                  "trusted: the session is too short, has too little hand movement, or its pose follows the EMG "
                  "only loosely; record a longer session (4 min or more of varied finger movement) or pass a "
                  "known lag to training (data.lag: <ms>)")
        if args.write:
            write_lag(path, r["lag_s"], ci_s=r["ci_s"])
    return 0
