"""Storage: SessionWriter throughput against plain file writes of the same bytes (one run, so the
ratio is meaningful on a shared machine), and in the pinned HDF5 1.10 file format against the newest
format it wrote before (same run, alternating). File size per minute with video comes from the Myo soak.
Damage rows: random bit flips and byte damages in a session's metadata bytes (bench/damage.py)."""

from __future__ import annotations

import os
import time

import numpy as np

from .core import Context, Row

GROUP = "storage"


def _payload(seconds: float, rate: float = 2000.0, n_ch: int = 16, fps: float = 30.0):
    """EMG chunks (10 ms each) and JPEG frames equivalent to ``seconds`` of recording."""
    import cv2

    from recorder.capture.camera import SyntheticCamera
    from recorder.sources.synthetic import SyntheticSubject

    rng = np.random.default_rng(0)
    n = int(seconds * rate)
    x = rng.normal(0, 300, size=(n, n_ch)).astype(np.int16)
    t = np.arange(n) / rate
    cam = SyntheticCamera(SyntheticSubject(seed=0), fps=fps)
    jpegs = []
    for i in range(24):  # a few distinct rendered frames, reused (encoding is not what we time)
        img, _, _ = cam.capture(1000.0 + i / fps)
        jpegs.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
    return x, t, jpegs, int(seconds * fps)


def _write_session(path, x, t, jpegs, n_frames, libver) -> tuple[float, int, object]:
    """Seconds to write the payload through SessionWriter in the given HDF5 format; frames; error."""
    from recorder.session.format import SessionWriter
    from recorder.core.types import EmgChunk, Frame, Landmarks

    step = 20  # 10 ms chunks at 2 kHz
    path.unlink(missing_ok=True)
    img = np.zeros((4, 4, 3), np.uint8)
    t0 = time.perf_counter()
    w = SessionWriter(path, sample_rate_hz=2000.0, channel_names=[f"ch{i}" for i in range(16)],
                      emg_dtype=np.int16, t0=0.0, metadata={"notes": "bench storage"}, video=True,
                      max_queued_frames=n_frames + 10, libver=libver)
    w.start()
    fi = 0
    frame_every = int(len(t) / max(n_frames, 1))
    for k in range(0, len(t), step):
        w.add_emg(EmgChunk(x[k:k + step], t[k:k + step], k, float(t[min(k + step, len(t)) - 1])))
        if fi < n_frames and k >= fi * frame_every:
            w.add_frame(Frame(img, float(t[k]), fi), jpeg=jpegs[fi % len(jpegs)])
            lm = Landmarks.empty(float(t[k]), fi)
            w.add_landmarks(lm)
            fi += 1
    w.close()
    return time.perf_counter() - t0, fi, w.error


def run(ctx: Context) -> list[Row]:
    from recorder.session.format import LIBVER, SessionReader

    seconds = ctx.pick(60.0, 300.0)
    x, t, jpegs, n_frames = _payload(seconds)
    path = ctx.workdir / "storage.h5"
    # Before (libver "latest", what emgrec wrote until the 1.10 pin) and after, alternating so that
    # a busy machine slows both alike; the best of each one's runs is kept.
    times = {"latest": [], "pinned": []}
    for _ in range(5):
        for key, libver in (("latest", ("latest", "latest")), ("pinned", LIBVER)):
            dt, fi, err = _write_session(path, x, t, jpegs, n_frames, libver)
            if err is not None:
                return [Row(GROUP, "session write", str(err), status="FAIL", hard=True)]
            times[key].append(dt)
    dt_writer, dt_latest = min(times["pinned"]), min(times["latest"])
    size = path.stat().st_size  # the last write: the pinned format
    frame_every = int(len(t) / max(n_frames, 1))
    with SessionReader(path) as r:
        ok = r.n_samples == len(t) and r.n_frames == fi
    # Plain writes of the same bytes: EMG data + times + JPEGs, appended in the same batches.
    plain = ctx.workdir / "storage.bin"
    raw_bytes = 0
    t0 = time.perf_counter()
    with open(plain, "wb") as f:
        batch = int(0.5 * 2000)  # the writer flushes every 0.5 s
        for k in range(0, len(t), batch):
            f.write(x[k:k + batch].tobytes())
            f.write(t[k:k + batch].tobytes())
            raw_bytes += x[k:k + batch].nbytes + t[k:k + batch].nbytes
            for j in range(int(k / frame_every), min(fi, int((k + batch) / frame_every))):
                f.write(jpegs[j % len(jpegs)])
                raw_bytes += len(jpegs[j % len(jpegs)])
            f.flush()
        os.fsync(f.fileno())
    dt_plain = time.perf_counter() - t0
    plain.unlink()
    mb = raw_bytes / 2**20
    w_rate, p_rate = mb / dt_writer, mb / dt_plain
    return [
        Row(GROUP, "session write throughput (2 kHz x 16 int16 + 30 fps JPEG, as fast as possible)", w_rate, "MB/s",
            note=f"{mb:.0f} MB of payload ({seconds:.0f} s of recording) in {dt_writer:.1f} s; file "
                 f"{size / 2**20:.0f} MB; reads back complete: {ok}"),
        Row(GROUP, "plain file writes of the same bytes", p_rate, "MB/s", note="write + flush per 0.5 s batch, fsync at end"),
        Row(GROUP, "session writer / plain writes", w_rate / p_rate, "ratio",
            note=f"real-time need is {mb / seconds:.2f} MB/s, i.e. {w_rate / (mb / seconds):.0f}x headroom"),
        Row(GROUP, "session writer written back intact", int(ok), "bool", "== 1", hard=True),
        Row(GROUP, "session write throughput before the format pin (libver latest, same run)", mb / dt_latest, "MB/s",
            note=f"best of 5 alternating runs each: latest {', '.join(f'{v:.2f}' for v in times['latest'])} s, "
                 f"{','.join(LIBVER)} {', '.join(f'{v:.2f}' for v in times['pinned'])} s"),
        Row(GROUP, f"session write throughput, HDF5 {'/'.join(LIBVER)} format / latest", dt_latest / dt_writer, "ratio",
            note="the pinned format is what HDF5 1.10 readers (h5dump, MATLAB, older h5py) open"),
        *checksum_rows(ctx),
        *damage_rows(ctx),
    ]


def damage_rows(ctx: Context) -> list[Row]:
    """Random damage to the metadata bytes of a closed and of a crashed session (bench/damage.py):
    flips, byte damages and 8-byte runs, each read back by a worker with a deadline. Hard: none
    returns changed content without an error, hangs, or ends in another exception."""
    from . import damage

    n = ctx.pick(15, 100)
    work = ctx.workdir / "damage"
    work.mkdir(exist_ok=True)
    rows = []
    for name, src in damage.make_sources(work).items():
        for region in ("attributes", "metadata"):
            res = damage.sweep(src, work, n=n, region=region, seed=15)
            tot = {o: sum(res[k][o] for k in ("flip", "byte", "run")) for o in damage.OUTCOMES}
            bad = tot["altered"] + tot["hang"] + tot["unclear"]
            rows.append(Row(GROUP, f"damage in the {region} bytes of a {name} session: silent, hung or unclear",
                            bad, "mutants", "== 0", hard=True,
                            note=f"{3 * n} mutants (flip, byte, 8-byte run) over {res['bytes']} bytes: "
                                 + ", ".join(f"{o} {v}" for o, v in tot.items())
                                 + (f"; e.g. {res['examples'][0]}" if res["examples"] else "")))
    return rows


def checksum_rows(ctx: Context) -> list[Row]:
    """Write cost of the Fletcher32 chunk checksums: the same payload written with and without them,
    alternately in one run (best of each), so machine load hits both alike."""
    from recorder.session import format as session
    from recorder.core.types import EmgChunk, Frame

    seconds = ctx.pick(30.0, 120.0)
    x, t, jpegs, n_frames = _payload(seconds)
    img = np.zeros((4, 4, 3), np.uint8)
    frame_every = int(len(t) / max(n_frames, 1))
    best = {True: float("inf"), False: float("inf")}
    sizes = {}
    for rep in range(ctx.pick(2, 3)):
        for on in (True, False):
            path = ctx.workdir / f"storage-checksum-{int(on)}.h5"
            path.unlink(missing_ok=True)
            session.CHECKSUMS = on
            try:
                t0 = time.perf_counter()
                w = session.SessionWriter(path, sample_rate_hz=2000.0, channel_names=[f"ch{i}" for i in range(16)],
                                          emg_dtype=np.int16, t0=0.0, video=True, max_queued_frames=n_frames + 10)
                w.start()
                fi = 0
                for k in range(0, len(t), 20):
                    w.add_emg(EmgChunk(x[k:k + 20], t[k:k + 20], k, float(t[min(k + 20, len(t)) - 1])))
                    if fi < n_frames and k >= fi * frame_every:
                        w.add_frame(Frame(img, float(t[k]), fi), jpeg=jpegs[fi % len(jpegs)])
                        fi += 1
                w.close()
                dt = time.perf_counter() - t0
            finally:
                session.CHECKSUMS = True
            if w.error is not None:
                return [Row(GROUP, "session write with checksums", str(w.error), status="FAIL", hard=True)]
            best[on] = min(best[on], dt)
            sizes[on] = path.stat().st_size
            path.unlink()
    mb = (x.nbytes + t.nbytes + sum(len(jpegs[i % len(jpegs)]) for i in range(n_frames))) / 2**20
    on_rate, off_rate = mb / best[True], mb / best[False]
    return [
        Row(GROUP, "session write with Fletcher32 checksums", on_rate, "MB/s",
            note=f"{mb:.0f} MB ({seconds:.0f} s of 2 kHz x 16 + 30 fps); best of alternating runs"),
        Row(GROUP, "session write without checksums (same run)", off_rate, "MB/s",
            note=f"file {sizes[False] / 2**20:.1f} MB without, {sizes[True] / 2**20:.1f} MB with"),
        Row(GROUP, "checksum write cost (with / without)", on_rate / off_rate, "ratio",
            note=f"real-time need is {mb / seconds:.2f} MB/s"),
    ]
