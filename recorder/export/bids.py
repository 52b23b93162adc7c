"""Sessions -> an EMG-BIDS dataset (BIDS 1.11, EMG and motion datatypes), extra ``[formats]``.

The EMG part is written by ``mne-bids`` (``write_raw_bids``, BDF through MNE's edfio writer,
24-bit): ``sub-S/ses-NN/emg/sub-S_ses-NN_task-T_emg.bdf`` with ``_emg.json``, ``_channels.tsv``,
``_events.tsv`` (labels with their duration, markers with duration 0, gaps as ``BAD_gap``), plus
``participants.tsv``, ``dataset_description.json`` and ``scans.tsv``. The landmarks go beside it as a
BIDS motion recording (``motion/..._tracksys-mediapipe_motion.tsv`` + ``_motion.json`` +
``_channels.tsv``): a LATENCY column (seconds from the EMG file's first sample, since camera frames
are not evenly spaced) and 63 POS columns (21 MediaPipe world landmarks x, y, z in mm); NaN rows
are frames without a hand.

BDF holds evenly spaced samples: EMG is placed on the grid ``round((t - t_first) * rate)``, and the
holes of recorded gaps are zeros inside a ``BAD_gap`` event. Devices with a microvolt scale are
stored in volts as MNE expects; unitless devices (the Myo's int8) keep their raw numbers scaled as
if microvolts, and their ``_channels.tsv`` units say ``n/a``.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from recorder.core.errors import EmgrecError, MissingPackageError
from recorder.session.format import SessionReader
from recorder.core.types import Progress, ProgressCallback

BIDS_VERSION = "1.11.0"


class BidsExportError(EmgrecError, ValueError):
    """A session or target that cannot be exported; names the file."""


def _need():
    try:
        import mne
        import mne_bids
    except ImportError:
        raise MissingPackageError("BIDS export needs mne and mne-bids: pip install 'emgrec[formats]'") from None
    return mne, mne_bids


def _label(text: str, default: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "", text or "")
    return s or default


def _gridded(r: SessionReader) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """(N_grid, C) float64 EMG in the file's unit on an even grid, bool (N_grid,) filled mask, and
    the holes as (onset_s, duration_s) from the first sample."""
    t = r.emg_t
    x = np.asarray(r.emg_data[:], np.float64)
    rate = r.sample_rate_hz
    k = np.round((t - t[0]) * rate).astype(np.int64)
    if np.any(np.diff(k) <= 0):
        # jittered times collapsing onto one grid slot: keep the order, never drop a sample
        k = np.maximum.accumulate(np.maximum(k, np.arange(len(k))))
    grid = np.zeros((int(k[-1]) + 1, x.shape[1]))
    have = np.zeros(len(grid), bool)
    grid[k] = x
    have[k] = True
    holes = []
    miss = np.flatnonzero(~have)
    if miss.size:
        starts = miss[np.r_[True, np.diff(miss) > 1]]
        ends = miss[np.r_[np.diff(miss) > 1, True]]
        holes = [(a / rate, (b - a + 1) / rate) for a, b in zip(starts, ends)]
    return grid, have, holes


def _write_tsv(path: Path, header: list[str] | None, rows) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        if header:
            w.writerow(header)
        w.writerows(rows)


def _motion(r: SessionReader, stem: str, motion_dir: Path, t_first: float, task: str) -> Path | None:
    if r.n_frames == 0:
        return None
    from recorder.sources.lsl import LANDMARK_NAMES
    world = np.asarray(r.landmarks_world[:], np.float64).reshape(r.n_frames, -1)
    vt = r.video_t - t_first
    motion_dir.mkdir(parents=True, exist_ok=True)
    base = motion_dir / f"{stem}_tracksys-mediapipe"
    data = np.column_stack([vt, world])
    # motion.tsv has no header row (BIDS motion); n/a for frames without a hand
    rows = ([f"{v:.6f}"] + ["n/a" if not np.isfinite(q) else f"{q:.3f}" for q in row[1:]] for v, row in zip(vt, data))
    _write_tsv(base.with_name(base.name + "_motion.tsv"), None, rows)
    chans = [["latency", "n/a", "LATENCY", "n/a", "s"]]
    for name in LANDMARK_NAMES:
        for ax in "xyz":
            chans.append([f"{name.lower()}_{ax}", ax, "POS", name.lower(), "mm"])
    _write_tsv(base.with_name(base.name + "_channels.tsv"), ["name", "component", "type", "tracked_point", "units"],
               chans)
    fps = (r.n_frames - 1) / (vt[-1] - vt[0]) if r.n_frames > 1 and vt[-1] > vt[0] else 0.0
    # Camera frames are not evenly spaced: the nominal rate is the measured one; LATENCY has the times.
    side = {"TaskName": task, "SamplingFrequency": round(fps, 6), "SamplingFrequencyEffective": round(fps, 6),
            "MissingValues": "n/a",
            "TrackingSystemName": "MediaPipe Hands (webcam)", "Manufacturer": "Google MediaPipe",
            "MotionChannelCount": len(chans), "POSChannelCount": 63, "LATENCYChannelCount": 1,
            "RecordingDuration": float(vt[-1] - vt[0]) if r.n_frames > 1 else 0.0,
            "SpatialAxes": "RFU", "RotationRule": "n/a",
            "Description": "MediaPipe world landmarks (mm, origin near the hand's centre) per camera frame; "
                           "latency is the frame time in seconds from the first sample of the EMG file."}
    p = base.with_name(base.name + "_motion.json")
    p.write_text(json.dumps(side, indent=1))
    return p


def export_bids(sessions: Sequence[str | Path], out_dir: str | Path, *, task: str = "capture",
                line_freq: float | None = None, progress: ProgressCallback | None = None,
                overwrite: bool = False) -> list[Path]:
    """Write each session as sub-<subject>/ses-<NN> of the BIDS dataset ``out_dir`` (which may
    exist). An existing recording is replaced only when ``overwrite``, else BidsExportError before
    anything is written for it. Returns the written BDF paths."""
    mne, mne_bids = _need()
    out = Path(out_dir)
    task = _label(task, "capture")
    paths = [Path(s) for s in sessions]
    if not paths:
        raise BidsExportError("no session files given")
    counts: dict[str, int] = {}
    written = []
    for i, p in enumerate(paths):
        if not p.is_file():
            raise FileNotFoundError(f"session file not found: {p}")
        with SessionReader(p) as r:
            if r.n_samples < 2:
                raise BidsExportError(f"{p}: no EMG to export")
            a = r.attrs
            sub = _label(str(a.get("subject", "")), "01")
            counts[sub] = counts.get(sub, 0) + 1
            ses = f"{counts[sub]:02d}"
            bp = mne_bids.BIDSPath(subject=sub, session=ses, task=task, datatype="emg", root=out,
                                   suffix="emg", extension=".bdf")
            if bp.fpath.exists() and not overwrite:
                raise BidsExportError(f"{bp.fpath} exists; export into a new folder or use --force "
                                      f"(nothing was overwritten)")
            grid, have, holes = _gridded(r)
            scale = r.scale_to_uV
            unitless = not np.isfinite(scale)
            volts = grid * (1.0 if unitless else scale) * 1e-6
            info = mne.create_info(list(r.channel_names), r.sample_rate_hz, ch_types="emg")
            raw = mne.io.RawArray(volts.T, info, verbose="error")
            raw.info["line_freq"] = line_freq
            hand = str(a.get("hand", "")).lower()
            raw.info["subject_info"] = {"his_id": sub, **({"hand": {"right": 1, "left": 2}[hand]}
                                                           if hand in ("right", "left") else {})}
            t_first = float(r.emg_t[0])
            on, du, de = [], [], []
            for s0, s1, name in r.labels:
                on.append(max(0.0, s0 - t_first)), du.append(max(0.0, s1 - s0)), de.append(name)
            for tm, text in r.markers:
                on.append(max(0.0, tm - t_first)), du.append(0.0), de.append(text or "marker")
            for o, d in holes:
                on.append(o), du.append(d), de.append("BAD_gap")
            if on:
                raw.set_annotations(mne.Annotations(on, du, de))
            mne_bids.write_raw_bids(raw, bp, format="BDF", allow_preload=True, emg_placement="Other",
                                    overwrite=overwrite, verbose="error")
            _fix_sidecars(bp, r, unitless, a)
            _motion(r, bp.basename.rsplit("_emg", 1)[0], bp.fpath.parent.parent / "motion", t_first, task)
            written.append(bp.fpath)
        if progress is not None:
            progress(Progress(i + 1, len(paths), f"{p.name}: sub-{sub} ses-{ses}"))
    _fix_dataset(out)
    return written


def _fix_sidecars(bp, r: SessionReader, unitless: bool, attrs: dict) -> None:
    """Fill in what mne-bids leaves as placeholders: the device, the placement, the units."""
    side = bp.copy().update(extension=".json")
    j = json.loads(side.fpath.read_text())
    dev = attrs.get("device") or {}
    j.update({"Manufacturer": str(dev.get("kind", "n/a")), "ManufacturersModelName": str(dev.get("board_name", dev.get("kind", "n/a"))),
              "RecordingType": "continuous", "EMGPlacementScheme": "Other",
              "EMGPlacementSchemeDescription": f"forearm armband, {len(r.channel_names)} electrodes around the "
                                               f"forearm ({attrs.get('hand', '') or 'n/a'} arm)",
              "EMGReference": "n/a", "EMGGround": "n/a", "SoftwareVersions": f"emgrec {attrs.get('software_version', '')}"})
    if attrs.get("notes"):
        j["RecordingNotes"] = str(attrs["notes"])
    side.fpath.write_text(json.dumps(j, indent=1))
    if unitless:
        ch = bp.copy().update(suffix="channels", extension=".tsv")
        lines = ch.fpath.read_text().splitlines()
        head = lines[0].split("\t")
        k = head.index("units")
        rows = [ln.split("\t") for ln in lines[1:]]
        for row in rows:
            row[k] = "n/a"
        _write_tsv(ch.fpath, head, rows)


def _fix_dataset(out: Path) -> None:
    dd = out / "dataset_description.json"
    j = json.loads(dd.read_text())
    j["BIDSVersion"] = BIDS_VERSION
    if not j.get("Name") or j.get("Name") == " ":
        j["Name"] = "emgrec recordings"
    j.setdefault("GeneratedBy", [{"Name": "emgrec"}])
    dd.write_text(json.dumps(j, indent=1))
