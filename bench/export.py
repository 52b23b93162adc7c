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
    rows = run_import(ctx)
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


def run_import(ctx: Context) -> list[Row]:
    """Import stream (issue 15): a 10^7-row (quick: 10^6), 8-channel CSV through `emgrec import`."""
    rows_n = ctx.pick(1_000_000, 10_000_000)
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "import_bench.py"), "--rows", str(rows_n),
                        "--dir", str(ctx.workdir / "import")], cwd=ROOT, capture_output=True, text=True,
                       timeout=ctx.pick(300, 1200))
    if p.returncode != 0:
        return [Row(GROUP, "import stream bench", f"exit {p.returncode}", status=FAIL, hard=True, note=p.stderr[-300:])]
    r = json.loads(p.stdout)
    name = f"import {rows_n:,}-row 8-channel CSV ({r['csv_mb']} MB)"
    if r["rc"] != 0:
        return [Row(GROUP, name, "error", status=FAIL, hard=True, note=r["stderr"])]
    out = [Row(GROUP, f"{name}: throughput", r["rows_per_s"] / 1e6, "M rows/s", ">= 1",
               note=f"{r['seconds']} s wall including process start (load {r['loadavg']:.1f}); pandas C reader"),
           Row(GROUP, f"{name}: rows per CPU second", r["rows_per_cpu_s"] / 1e6, "M rows/s",
               note=f"{r['cpu_s']} CPU s (parser + writer thread): the speed on a free core"),
           Row(GROUP, f"{name}: peak RSS", r["peak_rss_mb"], "MB", "< 500", hard=True)]
    for what, b in r["bad_inputs"].items():
        ok = b["rc"] != 0 and "Traceback" not in b["message"]
        out.append(Row(GROUP, f"import with {what}: clear error", 1 if ok else 0, "", "== 1", hard=True,
                       note=b["message"][-120:]))
    out.append(Row(GROUP, "import of bad input leaves no file", 0 if not r["bad_output_left"] else 1, "", "== 0",
                   hard=True))
    return out
