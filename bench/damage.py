"""Damage sweep over a session file's metadata bytes (issue 15 leftovers): random single-bit flips,
single-byte damages and 8-byte runs, each in a copy of the file, read by a worker subprocess with a
deadline. Each mutant ends as one of

* ``detected``  - SessionFormatError naming the file (a clear error),
* ``unchanged`` - read fine and everything the reader returns equals the original (unused bytes),
* ``altered``   - read fine but returned different content: damage passed silently,
* ``hang``      - no answer within the deadline (the worker is killed and restarted),
* ``unclear``   - any other exception (a traceback, an error without the file name).

"Metadata bytes" are every byte of the file outside the raw data of its chunks (superblock, object
headers, attribute heaps, chunk indexes, free space); chunk data has Fletcher32 checksums of its own.
"Attribute bytes" are where HDF5 keeps attribute values: global heap collections (variable-length
strings, files before the fixed-length attributes) and fractal heap direct blocks (dense attribute
storage). Used by ``bench.storage`` (rows) and by tests/recorder/test_damage_sweep.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

OUTCOMES = ("detected", "unchanged", "altered", "hang", "unclear")
ROOT = Path(__file__).resolve().parents[1]


# -- regions -----------------------------------------------------------------------------------------
def chunk_ranges(path: Path) -> list[tuple[int, int]]:
    """[start, end) byte ranges of every allocated chunk's raw data in the file."""
    import h5py
    out = []
    with h5py.File(path, "r", swmr=_flagged(path)) as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.chunks is not None and obj.shape[0]:
                obj.id.chunk_iter(lambda info: out.append((info.byte_offset, info.byte_offset + info.size))
                                  if info.byte_offset is not None else None)
        f.visititems(visit)
    return sorted(out)


def _flagged(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(12)
    return len(head) == 12 and bool(head[11] & 0x05)


def metadata_ranges(path: Path) -> list[tuple[int, int]]:
    """The complement of :func:`chunk_ranges` in the file."""
    size, out, at = path.stat().st_size, [], 0
    for lo, hi in chunk_ranges(path):
        if lo > at:
            out.append((at, lo))
        at = max(at, hi)
    if at < size:
        out.append((at, size))
    return out


def attribute_ranges(path: Path) -> list[tuple[int, int]]:
    """Global heap collections ("GCOL", size at +8) and fractal heap direct blocks ("FHDB", up to
    the next metadata signature), found by signature in the metadata bytes."""
    raw = path.read_bytes()
    meta = metadata_ranges(path)
    sigs = (b"OHDR", b"OCHK", b"FRHP", b"FHDB", b"FHIB", b"BTHD", b"BTLF", b"BTIN", b"EAHD", b"EAIB", b"EADB",
            b"EASB", b"FAHD", b"FADB", b"GCOL", b"FSHD", b"FSSE", b"SMTB", b"SMLI")
    starts = sorted(a for s in sigs for a in _find_all(raw, s) if _inside(a, meta))
    out = []
    for a in starts:
        if raw[a:a + 4] == b"GCOL":
            out.append((a, min(len(raw), a + int.from_bytes(raw[a + 8:a + 16], "little"))))
        elif raw[a:a + 4] == b"FHDB":
            nxt = next((b for b in starts if b > a), len(raw))
            end = next((hi for lo, hi in meta if lo <= a < hi), len(raw))
            out.append((a, min(nxt, end)))
    return out


def _find_all(raw: bytes, sig: bytes) -> list[int]:
    out, a = [], raw.find(sig)
    while a >= 0:
        out.append(a)
        a = raw.find(sig, a + 4)
    return out


def _inside(a: int, ranges) -> bool:
    return any(lo <= a < hi for lo, hi in ranges)


# -- sources ----------------------------------------------------------------------------------------
def make_sources(tmp: Path) -> dict[str, Path]:
    """{"closed": an 8 s synthetic session closed normally, "crash": a session as a SIGKILL leaves it
    (bytes copied while its writer holds it open, 8 s of 200 Hz x 8 EMG and 200 frames)}."""
    import shutil

    import numpy as np

    from recorder.core.types import EmgChunk, Frame, Landmarks
    from recorder.imports.synthetic_sessions import make_synthetic_session
    from recorder.session.format import SessionWriter
    closed = make_synthetic_session(tmp / "closed.h5", duration_s=8, seed=5)
    n, live, crash = 1600, tmp / "live.h5", tmp / "crash.h5"
    w = SessionWriter(live, sample_rate_hz=200, channel_names=[f"c{i}" for i in range(8)], emg_dtype=np.int8,
                      t0=0.0, flush_interval_s=0.1, metadata={"subject": "s1", "notes": "damage sweep"})
    w.start()
    try:
        rng = np.random.default_rng(1)
        w.add_emg(EmgChunk(rng.integers(-50, 50, (n, 8)).astype(np.int8), np.arange(n) / 200.0, 0, n / 200.0))
        for i in range(200):
            w.add_frame(Frame(np.full((24, 32, 3), i, np.uint8), i / 25.0, i))
            w.add_landmarks(Landmarks(np.full((21, 3), 0.5, np.float32), rng.normal(0, 50, (21, 3)).astype(np.float32),
                                      0.9, "Right", i / 25.0, i))
        w.add_label(1.0, 3.0, "fist")
        for _ in range(200):
            st = w.stats()
            if st["samples"] >= n and st["frames"] >= 200 and st["landmarks"] >= 200 and st["labels"] >= 1:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # one more flush interval: the last batch is on disk
        shutil.copyfile(live, crash)
    finally:
        w.close()
    return {"closed": closed, "crash": crash}


# -- mutants -----------------------------------------------------------------------------------------
def mutate(raw: bytes, ranges: list[tuple[int, int]], kind: str, rng: random.Random) -> bytes:
    """One damage of ``kind`` ("flip": one bit, "byte": one byte set to another value, "run": 8
    consecutive bytes set to random values) at a uniformly random position of ``ranges``."""
    total = sum(hi - lo for lo, hi in ranges)
    k = rng.randrange(total)
    for lo, hi in ranges:
        if k < hi - lo:
            pos = lo + k
            break
        k -= hi - lo
    b = bytearray(raw)
    if kind == "flip":
        b[pos] ^= 1 << rng.randrange(8)
    elif kind == "byte":
        b[pos] = (b[pos] + rng.randrange(1, 256)) % 256
    elif kind == "run":
        b[pos:pos + 8] = bytes(rng.randrange(256) for _ in range(len(b[pos:pos + 8])))
    else:
        raise ValueError(kind)
    return bytes(b)


# -- worker (a subprocess: a hang inside HDF5 cannot be interrupted in-process) -----------------------
def fingerprint(path: Path) -> str:
    """sha256 over everything the reader returns: attributes, summary, every dataset's rows."""
    import numpy as np

    from recorder.session.format import SessionReader
    h = hashlib.sha256()
    with SessionReader(path) as r:
        s = r.summary()
        s.pop("path"), s.pop("file_bytes")
        h.update(json.dumps([r.attrs, s, r.labels, r.markers, r.channel_names, r.units, r.sample_rate_hz],
                            default=str, sort_keys=True).encode())
        for a in (r.emg_t, r.emg_data, r.gaps, r.video_t, r.landmarks_image, r.landmarks_world, r.landmarks_score):
            h.update(np.ascontiguousarray(np.asarray(a)).tobytes())
        h.update(json.dumps(r.handedness).encode())
        for i in range(r.n_frames):
            h.update(r.jpeg(i))
    return h.hexdigest()


def _worker() -> None:
    import logging
    logging.disable(logging.CRITICAL)
    from recorder.session.format import SessionFormatError
    for line in sys.stdin:
        path = Path(line.strip())
        try:
            res = {"fp": fingerprint(path)}
        except SessionFormatError as e:
            res = {"error": "SessionFormatError" if e.path == path else f"SessionFormatError naming {e.path}",
                   "text": str(e)[:300]}
        except BaseException as e:  # noqa: BLE001 - everything else is a finding
            res = {"error": type(e).__name__, "text": str(e)[:300]}
        print(json.dumps(res), flush=True)


class Worker:
    """A child process answering one JSON line per path written to its stdin (``argv``: the child's
    command, by default this module's worker); :meth:`ask` gives up after ``timeout`` s (a hang).
    tests/recorder/test_session_fuzz.py drives its own worker through it."""

    def __init__(self, argv: list[str] | None = None):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        argv = argv or [sys.executable, "-m", "bench.damage", "worker"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
        self.lines: list[str] = []
        self.got = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            self.got.set()

    def ask(self, path: Path, timeout: float) -> dict | None:
        n = len(self.lines)
        self.got.clear()
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while len(self.lines) == n and time.monotonic() < deadline and self.proc.poll() is None:
            self.got.wait(0.1)
        return json.loads(self.lines[n]) if len(self.lines) > n else None

    def stop(self):
        self.proc.kill()
        self.proc.wait(10)
        self._reader.join(5)
        self.proc.stdin.close()
        self.proc.stdout.close()


def sweep(src: Path, work: Path, *, n: int, kinds=("flip", "byte", "run"), region: str = "metadata",
          seed: int = 0, hang_s: float = 10.0, examples: int = 3) -> dict:
    """Run ``n`` mutants per kind of ``src`` (damaged in ``region``: "metadata" or "attributes").
    Returns {kind: Counter of OUTCOMES}, plus "examples": up to ``examples`` mutant descriptions per
    bad outcome (altered, hang, unclear) and "bytes": the region's size."""
    raw = src.read_bytes()
    ranges = metadata_ranges(src) if region == "metadata" else attribute_ranges(src)
    rng = random.Random(seed)
    w = Worker()
    out: dict = {"bytes": sum(hi - lo for lo, hi in ranges), "examples": []}
    try:
        ref = w.ask(src, max(hang_s, 60.0))  # the first answer pays the imports
        if not ref or "fp" not in ref:
            raise RuntimeError(f"{src}: the undamaged file does not read: {ref}")
        p = work / f"damaged{src.suffix}"
        for kind in kinds:
            c = out[kind] = Counter({o: 0 for o in OUTCOMES})
            for i in range(n):
                p.write_bytes(mutate(raw, ranges, kind, rng))
                res = w.ask(p, hang_s)
                if res is None:
                    outcome = "hang"
                    w.stop()
                    w = Worker()
                elif "fp" in res:
                    outcome = "unchanged" if res["fp"] == ref["fp"] else "altered"
                else:
                    outcome = "detected" if res["error"] == "SessionFormatError" else "unclear"
                c[outcome] += 1
                if outcome in ("altered", "hang", "unclear") and len(out["examples"]) < examples * 3:
                    keep = work / f"{src.stem}-{kind}{i}-{outcome}{src.suffix}"
                    p.replace(keep)
                    out["examples"].append(f"{keep.name}: {res.get('error', '')} {res.get('text', '')}".strip()
                                           if res else f"{keep.name}: no answer in {hang_s:g} s")
    finally:
        w.stop()
    return out


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    _worker()
