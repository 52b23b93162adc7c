"""Check the alignment of an imported EMG + pose session by eye and by number.

EMG envelope (RMS over 400 ms, mean over channels) against finger-angle speed (mean |d angle / dt|
over the angles, same smoothing), over time, and their correlation at lags of -3..3 s: when the two
clocks are aligned, the peak sits near 0 s (muscle activity goes with finger movement).

    python scripts/alignment_figure.py S.h5 [S2.h5 ...] --out docs/figures/jhu-alignment.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def curves(path, rate: float = 20.0, smooth_s: float = 0.4):
    """(t (M,), envelope, angle speed, mean bend (180 - angle)), (M,) each on a common grid of
    ``rate`` Hz, z-scored."""
    from recorder.session.format import SessionReader
    with SessionReader(path) as r:
        t, x = r.emg_t, np.asarray(r.emg_data[:], np.float64)
        ft, a = r.video_t, r.angles
        if a is None:
            from recorder.dataset.angles import angles_from_landmarks
            a = angles_from_landmarks(np.asarray(r.landmarks_world[:]))
    a = np.asarray(a, np.float64)
    ok = np.isfinite(a).all(axis=1) & ((a > 1) & (a < 179.5)).all(axis=1)
    ft, a = ft[ok], a[ok]
    g = np.arange(max(t[0], ft[0]), min(t[-1], ft[-1]), 1.0 / rate)
    x = x - x.mean(axis=0)
    e2 = np.interp(g, t, (x ** 2).mean(axis=1))
    sp = np.abs(np.diff(a, axis=0)).mean(axis=1) / np.diff(ft)
    s = np.interp(g, ft[1:], sp)
    k = np.ones(max(1, int(smooth_s * rate))) / max(1, int(smooth_s * rate))
    env = np.sqrt(np.convolve(e2, k, "same"))
    s = np.convolve(s, k, "same")
    flex = np.convolve(np.interp(g, ft, (180.0 - a).mean(axis=1)), k, "same")  # bend, deg
    z = lambda v: (v - v.mean()) / (v.std() or 1.0)  # noqa: E731
    return g, z(env), z(s), z(flex)


def lag_correlation(env, speed, rate: float, max_lag_s: float = 3.0):
    """Lags (s; positive = the angle speed comes after the EMG) and Pearson correlations."""
    n = int(max_lag_s * rate)
    lags = np.arange(-n, n + 1)
    r = []
    for L in lags:
        a, b = (env[:len(env) - L], speed[L:]) if L >= 0 else (env[-L:], speed[:L])
        r.append(np.corrcoef(a, b)[0, 1])
    return lags / rate, np.array(r)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sessions", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--span", type=float, default=120.0, help="seconds of the time plot")
    ap.add_argument("--max-lag", type=float, default=10.0, help="largest lag tried (s)")
    args = ap.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(args.sessions), 2, figsize=(12, 3.2 * len(args.sessions)),
                             gridspec_kw={"width_ratios": [3, 1]}, squeeze=False)
    rate = 20.0
    for row, p in zip(axes, args.sessions):
        g, env, sp, flex = curves(p, rate)
        lag, r = lag_correlation(env, sp, rate, args.max_lag)
        _, rf = lag_correlation(env, flex, rate, args.max_lag)
        m = g < g[0] + args.span
        row[0].plot(g[m], env[m], lw=0.8, label="EMG envelope (RMS 400 ms, z)")
        row[0].plot(g[m], sp[m], lw=0.8, label="finger-angle speed (z)")
        row[0].plot(g[m], flex[m], lw=0.8, alpha=0.7, label="mean bend 180 - angle (z)")
        row[0].set_title(f"{p.name}: first {args.span:.0f} s of the overlap")
        row[0].set_xlabel("session time (s)")
        row[0].legend(loc="upper right", fontsize=8)
        best = lag[np.nanargmax(r)]
        bf = lag[np.nanargmax(rf)]
        row[1].plot(lag, r, color="C1", label="with angle speed")
        row[1].plot(lag, rf, color="C2", label="with mean bend")
        row[1].axvline(bf, color="k", ls=":", lw=0.8)
        row[1].set_title(f"EMG envelope correlation vs lag", fontsize=9)
        row[1].set_xlabel("lag of the pose after the EMG (s)")
        row[1].legend(fontsize=7)
        print(f"{p.name}: envelope vs angle speed: peak {best:+.2f} s (r = {np.nanmax(r):.3f}), at 0 s r = "
              f"{r[len(r) // 2]:.3f}; envelope vs mean bend: peak {bf:+.2f} s (r = {np.nanmax(rf):.3f}), "
              f"at 0 s r = {rf[len(rf) // 2]:.3f}")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
