"""MediaPipe's own landmark jitter on real hands: what the realistic synthetic subject's detector
noise (``landmark_jitter``, recorder/sources/synthetic.py) is modelled on.

``python -m bench.landmark_jitter [--hand-px 300] [--motion-px 8 --motion-scale 0.04] [--frames 90]``
``python -m bench.landmark_jitter --grid --out docs/landmark_jitter.md`` (four conditions, one table)

Each real HaGRID photo (../shared/data/hands/hagrid; photos with two hands are left out) is scaled so
the hand (the bounding box of MediaPipe's image landmarks, its longer side) spans ``hand_px`` pixels,
padded to a 640 x 480 frame and repeated as a video: every frame gets what a webcam adds to a still
hand (sensor noise, std 2 grey levels; a sub-pixel shift of up to +-0.5 px; MJPEG compression at
quality 80; with --motion-px/--motion-scale also a shift and scale drawn afresh per frame, a hand
that moves a little as real ones do) and goes through MediaPipe Hands in video mode (tracking, model_complexity 1), as the
recorder runs it. The hand's shape never changes, so every change in the wrist-relative 3D landmarks
(which are metric, so a shift or scale in the image should leave them alone) is the detector's.

Per photo, over the frames after the first 10 (tracking settled), with R_f the world landmarks
minus the wrist (mm; the synthetic subject's landmarks are wrist-relative too) and D_f = R_f - mean(R):
- ``total``: std of D over frames and landmarks 1-20, per axis x, y, z (mm);
- ``common``: std of c_f = the mean of D_f over landmarks 1-20 (a shift of every finger landmark
  relative to the wrist, shared within the frame), per axis;
- ``landmark``: std of D_f - c_f (what is left per landmark), per axis;
- ``lag1``: lag-1 autocorrelation of D over frames (0: a fresh draw every frame).
The tables give the median over photos, and the 10th-90th percentile range.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .landmarks import HAGRID, hagrid_folder

FRAME_W, FRAME_H = 640, 480
SETTLE = 10


def _one_hand_photos(folder: Path) -> tuple[list[tuple[Path, np.ndarray, float]], list[str]]:
    """(path, BGR image, hand size in px) of every photo with exactly one hand; names left out."""
    import cv2
    from mediapipe.python.solutions import hands as mp_hands

    keep, left_out = [], []
    with mp_hands.Hands(static_image_mode=True, max_num_hands=2, model_complexity=1) as hands:
        for p in sorted(folder.glob("*.png")):
            img = cv2.imread(str(p))
            res = hands.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)) if img is not None else None
            if res is None or not res.multi_hand_landmarks or len(res.multi_hand_landmarks) != 1:
                left_out.append(p.stem)
                continue
            xy = np.array([(q.x, q.y) for q in res.multi_hand_landmarks[0].landmark]) * (img.shape[1], img.shape[0])
            keep.append((p, img, float((xy.max(0) - xy.min(0)).max())))
    return keep, left_out


def _frame(img: np.ndarray, size: float, hand_px: float) -> np.ndarray:
    """The photo scaled so the hand spans hand_px, centred in a 640 x 480 frame (border replicated)."""
    import cv2

    s = hand_px / size
    im = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    h, w = im.shape[:2]
    if h > FRAME_H or w > FRAME_W:  # crop to the frame around the centre
        y0, x0 = max(0, (h - FRAME_H) // 2), max(0, (w - FRAME_W) // 2)
        im = im[y0:y0 + FRAME_H, x0:x0 + FRAME_W]
        h, w = im.shape[:2]
    top, left = (FRAME_H - h) // 2, (FRAME_W - w) // 2
    return cv2.copyMakeBorder(im, top, FRAME_H - h - top, left, FRAME_W - w - left, cv2.BORDER_REPLICATE)


def _webcam(base: np.ndarray, rng: np.random.Generator, motion_px: float = 0.0, motion_scale: float = 0.0) -> np.ndarray:
    """One webcam frame: the scene shifted by up to +-(0.5 + motion_px) px and scaled by up to
    +-motion_scale about the centre (drawn afresh per frame), sensor noise, MJPEG."""
    import cv2

    k = 1.0 + rng.uniform(-motion_scale, motion_scale)
    dx, dy = rng.uniform(-0.5 - motion_px, 0.5 + motion_px, 2)
    cx, cy = FRAME_W / 2, FRAME_H / 2
    m = np.float32([[k, 0, cx - k * cx + dx], [0, k, cy - k * cy + dy]])
    im = cv2.warpAffine(base, m, (FRAME_W, FRAME_H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    im = np.clip(im.astype(np.float32) + rng.normal(0.0, 2.0, im.shape), 0, 255).astype(np.uint8)
    ok, jpg = cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return cv2.imdecode(jpg, cv2.IMREAD_COLOR)


def photo_stats(world_mm: np.ndarray) -> dict | None:
    """Jitter statistics of one still hand's (F, 21, 3) world landmarks (mm; NaN rows: no hand)."""
    w = world_mm[~np.isnan(world_mm).any(axis=(1, 2))]
    if len(w) < 20:
        return None
    r = w - w[:, :1]                      # wrist-relative
    d = (r - r.mean(0))[:, 1:]            # (F, 20, 3) fluctuation of landmarks 1-20
    c = d.mean(1)                         # (F, 3) common shift
    e = d - c[:, None]
    a, b = d[:-1].reshape(-1), d[1:].reshape(-1)
    return {"total": d.reshape(-1, 3).std(0), "common": c.std(0), "landmark": e.reshape(-1, 3).std(0),
            "lag1": float(np.corrcoef(a, b)[0, 1]), "frames": len(w), "found": len(w) / len(world_mm)}


def measure(hand_px: float = 300.0, frames: int = 90, seed: int = 0, folder: Path | None = None,
            motion_px: float = 0.0, motion_scale: float = 0.0, limit: int | None = None, log=print) -> dict:
    """Run every one-hand photo as a still video; per-photo stats and their medians (see module doc)."""
    from recorder.capture.landmarks import HandDetector

    folder = folder or hagrid_folder()
    if folder is None:
        raise FileNotFoundError(f"no HaGRID photo folder (looked in {', '.join(map(str, HAGRID))})")
    photos, left_out = _one_hand_photos(folder)
    photos = photos[:limit]
    rng = np.random.default_rng(seed)
    per, t0 = {}, time.perf_counter()
    for p, img, size in photos:
        base = _frame(img, size, hand_px)
        with HandDetector(static_image_mode=False) as det:  # a fresh tracker per photo
            w = np.stack([det.process(_webcam(base, rng, motion_px, motion_scale), 0.0, i).world_mm for i in range(frames)])[SETTLE:]
        s = photo_stats(w)
        if s is not None:
            per[p.stem] = s
    keys = ("total", "common", "landmark")
    summary = {k: np.median([s[k] for s in per.values()], axis=0) for k in keys}
    summary.update({f"{k}_p10": np.percentile([s[k] for s in per.values()], 10, axis=0) for k in keys})
    summary.update({f"{k}_p90": np.percentile([s[k] for s in per.values()], 90, axis=0) for k in keys})
    summary["lag1"] = float(np.median([s["lag1"] for s in per.values()]))
    summary["found"] = float(np.median([s["found"] for s in per.values()]))
    log(f"{len(per)} photos at {hand_px:.0f} px in {time.perf_counter() - t0:.0f} s")
    return {"hand_px": hand_px, "frames": frames, "motion_px": motion_px, "motion_scale": motion_scale, "photos": per, "summary": summary, "left_out": left_out}


def markdown(res: dict) -> str:
    s = res["summary"]

    def xyz(v):
        return " / ".join(f"{x:.2f}" for x in v)

    motion = (f" --motion-px {res['motion_px']:g} --motion-scale {res['motion_scale']:g}"
              if res["motion_px"] or res["motion_scale"] else "") + (f" --frames {res['frames']}" if res["frames"] != 90 else "")
    what = (f"moved up to +-{res['motion_px']:g} px and scaled up to +-{100 * res['motion_scale']:g} % per frame"
            if res["motion_px"] or res["motion_scale"] else "still")
    lines = [f"# MediaPipe landmark jitter on real hands ({res['hand_px']:.0f} px hand, {what})", "",
             f"Generated by `python -m bench.landmark_jitter --hand-px {res['hand_px']:.0f}{motion}` (see its docstring "
             f"for the method): {len(res['photos'])} HaGRID photos, {res['frames']} frames each "
             f"(first {SETTLE} dropped), 640 x 480, video mode. Left out (two hands or none found): "
             f"{', '.join(res['left_out']) or 'none'}.", "",
             "Wrist-relative world landmarks 1-20, std in mm per axis x / y / z: median over photos "
             "[10th-90th percentile].", "",
             "| component | median x / y / z (mm) | p10 | p90 |", "|---|---|---|---|"]
    for k, what in (("total", "total"), ("common", "common to the frame (shift of all 20 vs the wrist)"),
                    ("landmark", "per landmark (after the common shift)")):
        lines.append(f"| {what} | {xyz(s[k])} | {xyz(s[k + '_p10'])} | {xyz(s[k + '_p90'])} |")
    lines += ["", f"Lag-1 autocorrelation of the fluctuation (median): {s['lag1']:.2f}; frames with a hand "
              f"(median): {s['found']:.3f}.", "", "Per photo (total x / y / z mm, common, per landmark, lag-1):", "",
              "| photo | total | common | per landmark | lag-1 |", "|---|---|---|---|---|"]
    for name, p in res["photos"].items():
        lines.append(f"| {name} | {xyz(p['total'])} | {xyz(p['common'])} | {xyz(p['landmark'])} | {p['lag1']:.2f} |")
    return "\n".join(lines) + "\n"


#: --grid: hand size (px) x (motion px, motion scale); the first moving one is the preset's source.
GRID = ((300.0, 8.0, 0.04), (300.0, 0.0, 0.0), (180.0, 8.0, 0.04), (180.0, 0.0, 0.0))


def grid_markdown(results: list[dict]) -> str:
    """One summary table over the conditions, then the full report of the first (the preset's source)."""
    ref = results[0]["summary"]
    lines = ["# MediaPipe landmark jitter on real hands", "",
             "Generated by `python -m bench.landmark_jitter --grid --frames "
             f"{results[0]['frames']}`: the conditions below, then the full report of the first, which "
             "the realistic synthetic subject's `landmark_jitter` 1.0 reproduces (MEDIAPIPE_JITTER_COMMON_MM "
             "and _LANDMARK_MM in recorder/sources/synthetic.py).", "",
             "Wrist-relative world landmarks 1-20, std (mm) x / y / z, median over photos:", "",
             "| hand | between frames | total | common | per landmark | lag-1 | total / first row (x, y, z) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        s = r["summary"]
        move = (f"moved +-{r['motion_px']:g} px, scaled +-{100 * r['motion_scale']:g} %"
                if r["motion_px"] or r["motion_scale"] else "still (sensor noise, +-0.5 px)")
        rel = " / ".join(f"{a / b:.2f}" for a, b in zip(s["total"], ref["total"]))
        lines.append(f"| {r['hand_px']:.0f} px | {move} | " + " | ".join(
            " / ".join(f"{x:.2f}" for x in s[k]) for k in ("total", "common", "landmark"))
            + f" | {s['lag1']:.2f} | {rel} |")
    body = markdown(results[0]).split("\n", 1)[1]
    return "\n".join(lines) + "\n\n## " + markdown(results[0]).split("\n", 1)[0].lstrip("# ") + "\n" + body


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.landmark_jitter", description=__doc__.split("\n")[0])
    ap.add_argument("--hand-px", type=float, default=300.0, help="hand size in the frame (px, default 300)")
    ap.add_argument("--frames", type=int, default=90, help="frames per photo (default 90: 3 s at 30 fps)")
    ap.add_argument("--motion-px", type=float, default=0.0,
                    help="also move the hand up to +-this many px per frame (a hand that is not quite still)")
    ap.add_argument("--motion-scale", type=float, default=0.0, help="and scale it by up to +-this fraction")
    ap.add_argument("--grid", action="store_true", help="every condition of GRID, one summary table")
    ap.add_argument("--out", help="write the markdown table here (an existing file is replaced only with --force)")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    if args.grid:
        text = grid_markdown([measure(px, args.frames, motion_px=mp, motion_scale=ms) for px, mp, ms in GRID])
    else:
        text = markdown(measure(args.hand_px, args.frames, motion_px=args.motion_px, motion_scale=args.motion_scale))
    print(text)
    if args.out:
        out = Path(args.out)
        if out.exists() and not args.force:
            print(f"{out} exists; not replaced (add --force)")
            return 1
        out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
