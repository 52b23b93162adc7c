"""MP4 export is H.264 (yuv420p) as browsers need, checked with ffprobe (Debian's ffmpeg, installed by
.ci/run; else the ffmpeg binary that imageio-ffmpeg ships, which prints the same stream line); one
video frame per stored frame; odd frame sizes padded; the hands are labelled in the picture."""
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("av", reason="pip install 'emgrec[formats]'")

from recorder.export import files as ex  # noqa: E402
from recorder.session.format import SessionReader  # noqa: E402
from recorder.imports.synthetic_sessions import make_synthetic_session  # noqa: E402


def probe(path) -> dict:
    """codec_name, pix_fmt, width, height, nb_frames of the first video stream."""
    if shutil.which("ffprobe"):
        p = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                            "stream=codec_name,codec_tag_string,pix_fmt,width,height,nb_read_frames", "-of", "json",
                            str(path)], capture_output=True, text=True, timeout=60, check=True)
        s = json.loads(p.stdout)["streams"][0]
        return {"codec_name": s["codec_name"], "tag": s["codec_tag_string"], "pix_fmt": s["pix_fmt"],
                "width": int(s["width"]), "height": int(s["height"]), "frames": int(s["nb_read_frames"])}
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="needs ffprobe or imageio-ffmpeg")
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    p = subprocess.run([exe, "-hide_banner", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Video: (\w+) .*?\((\w+) / [^)]*\), (\w+)[^,]*, (\d+)x(\d+)", p.stderr)
    frames = re.findall(r"frame=\s*(\d+)", p.stderr)
    return {"codec_name": m.group(1), "tag": m.group(2), "pix_fmt": m.group(3), "width": int(m.group(4)),
            "height": int(m.group(5)), "frames": int(frames[-1])}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return make_synthetic_session(tmp_path_factory.mktemp("mp4") / "cam.h5", duration_s=2.0, seed=3, camera=True,
                                  frame_size=(161, 121))


def test_mp4_is_h264_yuv420p_with_every_frame(session, tmp_path):
    res = ex.export_video(session, tmp_path / "cam.mp4", predict=lambda X: np.zeros((len(X), 63), np.float32))
    info = probe(res.path)
    assert info["codec_name"] == "h264" and info["tag"] == "avc1" and info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == (162, 122)  # odd sizes padded to even for yuv420p
    with SessionReader(session) as r:
        assert info["frames"] == r.n_frames == res.items


def test_hands_are_labelled(session, tmp_path):
    import av
    with SessionReader(session) as r:
        i = int(np.flatnonzero(r.has_hand())[0])
        hand = r.handedness[i]
    assert hand in ("Left", "Right")
    drawn = []
    orig = ex._label_hand

    def spy(img, pts, text, color):
        drawn.append(text)
        orig(img, pts, text, color)

    ex._label_hand = spy
    try:
        plain = ex.export_video(session, tmp_path / "a.mp4", predict=lambda X: np.zeros((len(X), 63), np.float32))
    finally:
        ex._label_hand = orig
    assert f"{hand} hand (MediaPipe)" in drawn
    # the label changes the pixels near the wrist: compare one decoded frame with an unlabelled export
    ex._label_hand = lambda *a: None
    try:
        bare = ex.export_video(session, tmp_path / "b.mp4", predict=lambda X: np.zeros((len(X), 63), np.float32))
    finally:
        ex._label_hand = orig

    def frame(path, k):
        with av.open(str(path)) as c:
            for n, f in enumerate(c.decode(video=0)):
                if n == k:
                    return f.to_ndarray(format="bgr24").astype(int)

    assert np.abs(frame(plain.path, i) - frame(bare.path, i)).sum() > 1000
