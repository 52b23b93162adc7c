"""Export: time and peak memory of exporting a long synthetic session, via bench/export_bench.py
(the export helper's script, run unchanged in a child process)."""

from __future__ import annotations

import json
import subprocess
import sys

from .core import FAIL, ROOT, Context, Row

GROUP = "export"


def run(ctx: Context) -> list[Row]:
    script = ROOT / "bench" / "export_bench.py"
    if not script.exists():
        return [Row(GROUP, "export", None, status="not yet measured", note="bench/export_bench.py missing")]
    minutes = ctx.pick(5, 60)
    fmts = ctx.pick("h5", "h5,npz,csv")
    p = subprocess.run([sys.executable, str(script), "--minutes", str(minutes), "--formats", fmts,
                        "--dir", str(ctx.workdir / "export")], cwd=ROOT, capture_output=True, text=True,
                       timeout=ctx.pick(600, 2400))
    if p.returncode != 0:
        return [Row(GROUP, "export bench", f"exit {p.returncode}", status=FAIL, hard=True, note=p.stderr[-300:])]
    res = json.loads(p.stdout)
    rows = []
    for e in res["exports"]:
        if "error" in e:
            rows.append(Row(GROUP, f"export {minutes} min session to {e['format']}", "error", status=FAIL, hard=True,
                            note=str(e["error"])))
            continue
        rows += [Row(GROUP, f"export {minutes} min session to {e['format']}: time", e.get("seconds"), "s",
                     note=f"{e['items']} windows, {e['out_mb']} MB out, session {res['session_mb']} MB"),
                 Row(GROUP, f"export {minutes} min session to {e['format']}: peak RSS", e["peak_rss_mb"] / 1024, "GiB",
                     "< 1", note=f"baseline after imports {e['baseline_rss_mb']:.0f} MB"
                                 + (f", tracemalloc peak {e['tracemalloc_peak_mb']} MB" if "tracemalloc_peak_mb" in e else ""))]
    return rows
