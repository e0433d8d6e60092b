"""Run every benchmark and write docs/benchmarks.md (`make bench`).

    .venv/bin/python benchmarks/run_all.py [--factor 0.1] [--requests 400] [--quick]

One throw-away PostgreSQL cluster, one regional dataset (`demo --scale region`, scaled by --factor) shared by
the pages and region-export benchmarks; the colleagues' benchmarks (feed, annual report PDF, encrypted patient
page) run as they are, each in its own process. Every figure is a ratio to a reference measured in the same
run on the same machine; absolute numbers and the command to reproduce each line are written too.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

HERE, ROOT = common.HERE, common.ROOT
OUT = ROOT / "docs" / "benchmarks.md"


def run(script: str, *args: str, timeout: int = 1800) -> tuple[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)
    if proc.returncode:
        return f"FAILED (exit {proc.returncode})\n{proc.stderr[-3000:]}", time.perf_counter() - t0
    return proc.stdout, time.perf_counter() - t0


def last_json(out: str) -> dict | None:
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None


def table_only(out: str) -> str:
    return "\n".join(line for line in out.splitlines() if not line.startswith("{"))


def pct(x: float) -> str:
    return f"{x:.0%}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--factor", type=float, default=0.1, help="region scale for the pages/export benchmarks")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="fewer requests/rounds (smoke run)")
    opts = parser.parse_args(argv)
    requests = str(100 if opts.quick else opts.requests)
    started = datetime.now(UTC)
    tmp = Path(tempfile.mkdtemp(prefix="bench-all-"))
    summary: list[tuple] = []  # (benchmark, figure, measured, target, ok, command)
    sections: list[str] = []
    cluster, url = common.start_postgres()
    try:
        env = common.app_env(tmp, url)
        gen = common.generate_region(env, opts.factor)
        out, _ = run("bench_pages.py", "--database-url", url, "--requests", requests, "--profile")
        pages = last_json(out)
        cmd_pages = f".venv/bin/python benchmarks/bench_pages.py --factor {opts.factor} --requests {requests}"
        if pages:
            for r in pages["rows"][2:]:
                summary.append(("pages (gunicorn, PostgreSQL)", f"{r['page']}: throughput vs hello", pct(r["ratio"]),
                                "≥ 35 %", r["ratio"] >= 0.35, cmd_pages))
        sections.append(f"## Pages\n\n`{cmd_pages}`\n\n{_strip_profiles(table_only(out))}")
        if pages and pages.get("profiles"):
            prof = "\n\n".join(f"#### {name}\n\n```\n{_trim(text)}\n```" for name, text in pages["profiles"].items())
            sections.append(f"### Profiles (pyinstrument, 5 requests per page, in-process)\n\n{prof}")
        out, _ = run("bench_region_export.py", "--database-url", url)
        exp = last_json(out)
        cmd_exp = f".venv/bin/python benchmarks/bench_region_export.py --factor {opts.factor}"
        if exp:
            summary.append(("region export (job)", f"region-wide ({exp['teams']} teams) vs one team's claim PDF",
                            f"{exp['ratio']:.2f}×", "≤ 10×", exp["ratio"] <= 10, cmd_exp))
        sections.append(f"## Region-wide claim export\n\n`{cmd_exp}`\n\n{table_only(out)}")
    finally:
        common.stop_postgres(cluster)
        shutil.rmtree(tmp, ignore_errors=True)

    feed_args = ["--requests", "400" if opts.quick else "2000"]
    out, _ = run("bench_feed.py", *feed_args)
    cmd = ".venv/bin/python benchmarks/bench_feed.py " + " ".join(feed_args)
    rows = {m.group(1).strip(): m.group(2) for m in re.finditer(r"^\| ([^|]+) \| \d+ \| (\d+)% \|", out, re.M)}
    for key, label, target, limit in (("app feed, 500 events, 200", "feed (500 events) vs hello", "≥ 25 %", 25),
                                      ("app feed, If-None-Match → 304", "feed 304 vs hello", "≥ 50 %", 50)):
        value = next((v for k, v in rows.items() if k.startswith(key)), None)
        if value is not None:
            summary.append(("calendar feed (gunicorn, SQLite)", label, f"{value} %", target, int(value) >= limit, cmd))
    sections.append(f"## Calendar feed\n\n`{cmd}`\n\n{out}")

    out, _ = run("bench_report.py")
    cmd = ".venv/bin/python benchmarks/bench_report.py"
    row_re = r"^\| ([\d\u202f,]+) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| ([\d.]+)× \| ([\d.]+)× \| \d+ \| ([\d.]+) \|"
    for m in re.finditer(row_re, out, re.M):
        n = m.group(1)
        if m.group(3) == "1.00":
            summary.append(("annual report PDF", f"{n} entries: end-to-end vs WeasyPrint alone", f"{m.group(2)}×",
                            "≤ 1.3×", float(m.group(2)) <= 1.3, cmd))
        else:
            summary.append(("annual report PDF", f"10× entries ({n}) vs 2 000", f"{m.group(3)}×", "≤ 2×",
                            float(m.group(3)) <= 2, cmd))
        summary.append(("annual report PDF", f"{n} entries: peak RSS", f"{m.group(4)} MiB", "≤ 400 MB",
                        float(m.group(4)) * 1.048576 <= 400, cmd))
    sections.append(f"## Annual report PDF\n\n`{cmd}`\n\n{out}")

    args = ["--rounds", "15" if opts.quick else "40"]
    out, _ = run("bench_patient_page.py", *args)
    cmd = ".venv/bin/python benchmarks/bench_patient_page.py " + " ".join(args)
    m = re.search(r"ratio encrypted / plaintext: ([\d.]+)x", out)
    if m:
        summary.append(("patient page, 100 notes", "encrypted vs plaintext", f"{float(m.group(1)):.2f}×", "≤ 1.15×",
                        float(m.group(1)) <= 1.15, cmd))
    sections.append(f"## Patient page, encrypted vs plaintext\n\n`{cmd}`\n\n{out}")

    write(started, opts, gen, pages, summary, sections)
    print(OUT.read_text()[:6000])


def _trim(text: str, limit: int = 60) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[:limit])


def _strip_profiles(text: str) -> str:
    return text.split("\n--- pyinstrument")[0]


def write(started, opts, gen, pages, summary, sections) -> None:
    lines = [
        "# Benchmarks — generated by `make bench` (`.venv/bin/python benchmarks/run_all.py`)",
        "",
        f"Run of {started:%Y-%m-%d %H:%M} UTC on {common.machine()} (at the end of the run). Every figure is a "
        "ratio to a reference measured in the same run on the same machine; absolute numbers follow in each "
        "section. This VM is shared with other engineers' test runs: ratios move with the load (see each "
        "feature's notes in docs/benchmarks/).",
        "",
        "| benchmark | figure | measured | target | | reproduce |",
        "|---|---|---:|---|---|---|",
    ]
    for bench, figure, value, target, ok, cmd in summary:
        lines.append(f"| {bench} | {figure} | {value} | {target} | {'OK' if ok else '**MISSED**'} | `{cmd}` |")
    if gen:
        counts = ", ".join(f"{k} {v:,}".replace(",", "\u202f") for k, v in gen["counts"].items())
        lines += ["", f"Regional dataset (`demo --scale region --seed 1`, factor {gen['factor']}: every count "
                  f"scaled, per-team density of the full region): {counts}; generated on PostgreSQL in "
                  f"{gen['seconds']:.0f} s."]
    if pages and pages.get("sizes"):
        lines += ["", "Table sizes: " + ", ".join(f"{k} {v:,}".replace(",", "\u202f")
                                                for k, v in sorted(pages["sizes"].items()))]
    lines += ["", *(s.rstrip() + "\n" for s in sections)]
    OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
