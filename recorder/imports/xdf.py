"""Import an XDF recording (LabRecorder's format) into a session file with ``pyxdf`` (extra ``[formats]``).

- EMG: the stream chosen by name or type (``stream``), else the one stream whose type is "EMG"
  (case-insensitive). Channel labels and unit come from the stream header (``desc/channels``);
  a unit of microvolts gives ``units="uV"``, ``scale_to_uV=1``. Sample times are pyxdf's, with its
  clock offsets applied (``synchronize_clocks=True``: every stream on the recording computer's
  clock), shifted so the first EMG sample is at 0 s; holes longer than 3 periods become gaps.
- Markers: every string sample of every ``Markers`` stream becomes a session marker at its time.
  Markers that carry a label vocabulary become labels too: ``start:NAME`` / ``end:NAME`` (also
  ``NAME_start``/``NAME_end``, ``NAME start``/``NAME end``), or, with ``label_names`` given, a
  marker equal to one of those names starts a label that lasts until the next such marker.
- Landmarks: a numeric stream of type "MoCap" (or "Hand") with 63 channels, as ``emgrec lsl
  publish`` sends (21 MediaPipe world landmarks x, y, z in mm), becomes frames without stored
  images (docs/session-format.md) carrying those landmarks at their times. Video streams are not imported.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from recorder.core.errors import MissingPackageError
from recorder.imports.tables import ImportFormatError, _find_gaps, _write_session

MAGIC = b"XDF:"
_DTYPES = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
           "float32": np.float32, "double64": np.float64}
_UV = {"microvolts", "microvolt", "uv", "µv", "μv"}


def is_xdf(path) -> bool:
    """True when the file starts with the XDF magic bytes."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == MAGIC
    except OSError:
        return False


def _info(stream, key: str, default: str = "") -> str:
    v = stream["info"].get(key)
    return str(v[0]) if v else default


def _channels(stream) -> list[dict]:
    desc = stream["info"].get("desc") or [None]
    try:
        chans = desc[0]["channels"][0]["channel"]
    except (TypeError, KeyError, IndexError):
        return []
    out = []
    for c in chans:
        out.append({k: (v[0] if isinstance(v, list) and v and isinstance(v[0], str) else "") for k, v in c.items()})
    return out


def _pick_emg(src: Path, streams, stream: str | None):
    def describe(s):
        return f"{_info(s, 'name')!r} (type {_info(s, 'type')!r}, {_info(s, 'channel_count')} ch)"

    numeric = [s for s in streams if _info(s, "channel_format") != "string"]
    if stream:
        hits = [s for s in numeric if _info(s, "name") == stream] or \
               [s for s in numeric if _info(s, "type").lower() == stream.lower()]
        if not hits:
            raise ImportFormatError(f"{src.name}: no numeric stream named or typed {stream!r}; streams: "
                                    f"{', '.join(describe(s) for s in streams) or 'none'}")
    else:
        hits = [s for s in numeric if _info(s, "type").lower() == "emg"]
        if not hits:
            raise ImportFormatError(f"{src.name}: no EMG stream (type 'EMG'); streams: "
                                    f"{', '.join(describe(s) for s in streams) or 'none'}; choose one with --stream")
    if len(hits) > 1:
        raise ImportFormatError(f"{src.name}: several streams match: {', '.join(describe(s) for s in hits)}; "
                                f"choose one with --stream NAME")
    return hits[0]


_PAIR = [re.compile(r"^(?:start|begin|onset)[:_ ](?P<name>.+)$", re.I),
         re.compile(r"^(?P<name>.+?)[:_ ](?:start|begin|onset)$", re.I)]
_END = [re.compile(r"^(?:end|stop|offset)[:_ ](?P<name>.+)$", re.I),
        re.compile(r"^(?P<name>.+?)[:_ ](?:end|stop|offset)$", re.I)]


def _match(patterns, text):
    for p in patterns:
        m = p.match(text)
        if m:
            return m.group("name").strip()
    return None


def markers_to_labels(markers: list[tuple[float, str]], end_s: float,
                      label_names: list[str] | None = None) -> list[tuple[float, float, str]]:
    """(t, text) markers, sorted by t -> (start_s, end_s, name) labels (see the module doc)."""
    labels = []
    open_: dict[str, float] = {}
    vocab = set(label_names or [])
    cur: tuple[float, str] | None = None
    for t, text in markers:
        text = text.strip()
        if vocab:
            if text in vocab:
                if cur is not None and t > cur[0]:
                    labels.append((cur[0], t, cur[1]))
                cur = (t, text)
            continue
        name = _match(_PAIR, text)
        if name is not None:
            open_[name] = t
            continue
        name = _match(_END, text)
        if name is not None and name in open_:
            t0 = open_.pop(name)
            if t > t0:
                labels.append((t0, t, name))
    if cur is not None and end_s > cur[0]:
        labels.append((cur[0], end_s, cur[1]))
    return sorted(labels)


def import_xdf(src, dst, *, stream: str | None = None, label_names: list[str] | None = None,
               subject: str = "", notes: str = "") -> Path:
    """Write the EMG, markers and labels of XDF file ``src`` to session ``dst`` (see module doc)."""
    try:
        import pyxdf
    except ImportError:
        raise MissingPackageError("XDF import needs the pyxdf package: pip install 'emgrec[formats]'") from None
    src = Path(src)
    if not is_xdf(src):
        raise ImportFormatError(f"{src}: not an XDF file (no 'XDF:' magic)")
    try:
        streams, header = pyxdf.load_xdf(str(src), synchronize_clocks=True, dejitter_timestamps=False)
    except Exception as e:  # pyxdf raises bare Exceptions / struct errors on truncated files
        raise ImportFormatError(f"{src.name}: unreadable XDF ({type(e).__name__}: {e})") from None
    emg = _pick_emg(src, streams, stream)
    ts = np.asarray(emg["time_stamps"], np.float64)
    x = np.asarray(emg["time_series"])
    if len(ts) == 0 or x.ndim != 2:
        raise ImportFormatError(f"{src.name}: EMG stream {_info(emg, 'name')!r} has no samples")
    order = np.argsort(ts, kind="stable")
    ts, x = ts[order], x[order]
    fmt = _info(emg, "channel_format", "float32")
    dt = np.dtype(_DTYPES.get(fmt, np.float32))
    rate = float(_info(emg, "nominal_srate", "0") or 0)
    if rate <= 0:
        rate = float(emg["info"].get("effective_srate") or 0) or (len(ts) - 1) / max(ts[-1] - ts[0], 1e-9)
    chans = _channels(emg)
    n = x.shape[1]
    names = [c.get("label") or f"ch{i + 1}" for i, c in enumerate(chans)] if len(chans) == n else \
        [f"ch{i + 1}" for i in range(n)]
    unit = (chans[0].get("unit", "") if chans else "") or "counts"
    units, scale = ("uV", 1.0) if unit.lower() in _UV else (unit, float("nan"))
    t0 = float(ts[0])
    t = ts - t0
    end_s = float(t[-1] + 1.0 / rate)

    markers = []
    for s in streams:
        if _info(s, "channel_format") == "string" and s is not emg:
            for tm, row in zip(s["time_stamps"], s["time_series"]):
                text = str(row[0]) if len(row) else ""
                markers.append((float(tm) - t0, text))
    markers.sort(key=lambda m: m[0])
    labels = markers_to_labels(markers, end_s, label_names)
    poses = None
    hand = [s for s in streams if s is not emg and _info(s, "type").lower() in ("mocap", "hand")
            and _info(s, "channel_format") != "string" and np.asarray(s["time_series"]).ndim == 2
            and np.asarray(s["time_series"]).shape[1] == 63]
    if hand:
        ht = np.asarray(hand[0]["time_stamps"], np.float64)
        order = np.argsort(ht, kind="stable")
        poses = (ht[order] - t0, np.asarray(hand[0]["time_series"], np.float64)[order].reshape(-1, 21, 3))
    meta = {"subject": subject, "notes": notes, "hand": "",
            "device": {"kind": "xdf", "source": str(src), "stream": _info(emg, "name"),
                       "stream_type": _info(emg, "type"), "source_id": _info(emg, "source_id"),
                       "hostname": _info(emg, "hostname"),
                       "landmark_stream": _info(hand[0], "name") if hand else ""},
            "settings": {"importer": "xdf", "synchronize_clocks": True, "label_names": label_names or []},
            "source_file": src.name, "source_start_time": t0}
    return _write_session(dst, x=x.astype(dt), t=t, sample_rate_hz=rate, channel_names=names, units=units,
                          scale_to_uV=scale, dtype=dt, labels=labels, gaps=_find_gaps(t, 1.0 / rate),
                          metadata=meta, markers=markers, poses=poses)
