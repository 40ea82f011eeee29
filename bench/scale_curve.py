"""Benchmark: how taxi_nightly's cost grows with the data, through Airflow and under TFX's LocalDagRunner.

For each size (default 15k, 150k, 1.5M rows) the script resamples the real taxi rows (with replacement, fixed
seed), spreads their trip_start_timestamp uniformly over the real data's date range, lands them as daily
partitions in a fresh private stack, runs taxi_nightly through Airflow and then LocalDagRunner on the same
staged CSV. It prints, per size: rows, both wall times and their ratio, microseconds per row, and each
task's peak RSS (as the task recorded it: XCom `cost`); as a table, as JSON lines, and as an SVG plot.

Usage: .venv/bin/python bench/scale_curve.py [--rows 15000,150000,1500000] [--plot bench/scale_curve.svg]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from pipeline_runs import private_stack, run_dag, run_local_dag_runner

from nightshift.control.cli.data import taxi_csv_path
from nightshift.control.landing import seed

TIMESTAMP = "trip_start_timestamp"
WATCHED = ("stage_window", "data_contract_gate", "example_gen", "statistics_gen", "transform", "trainer",
           "evaluator")


def resample(source: Path, rows: int, dest: Path, seed_value: int = 16) -> None:
    """`rows` rows drawn with replacement from the real data, timestamps spread over its date range."""
    with source.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        real = list(reader)
    ts = header.index(TIMESTAMP)
    stamps = [int(r[ts]) for r in real if r[ts]]
    low, high = min(stamps), max(stamps)
    rng = random.Random(seed_value)
    with dest.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for _ in range(rows):
            row = list(rng.choice(real))
            row[ts] = str(rng.randint(low, high))
            writer.writerow(row)


def measure(rows: int, work: Path) -> dict:
    var = Path(tempfile.mkdtemp(prefix=f"nightshift-scale-{rows}-", dir=work))
    data = var / f"taxi_{rows}.csv"
    resample(taxi_csv_path(), rows, data)
    with private_stack(var, s3_port=29433, api_port=19180) as (stack, api):
        from nightshift.core.s3 import client_from_env

        t0 = time.monotonic()
        landed = seed(client_from_env(), data, "s3://nightshift-raw/taxi/", TIMESTAMP)
        land_s = time.monotonic() - t0
        dag = run_dag(api, f"scale_{rows}")
        if dag.state != "success":
            raise RuntimeError(f"{rows} rows: the Airflow run ended {dag.state}; see {var}/log")
        local_s, local_rss_kb = run_local_dag_runner(stack, dag.run_id)
    peak_mib = {t: round(dag.costs.get(t, {}).get("peak_rss_kb", 0) / 1024) for t in WATCHED}
    return {"rows": rows, "partitions": landed.partitions, "land_s": round(land_s, 1),
            "airflow_s": round(dag.wall_s, 1), "airflow_tfx_part_s": round(dag.tfx_part_s, 1),
            "local_dag_runner_s": round(local_s, 1), "ratio": round(dag.wall_s / local_s, 3),
            "ratio_tfx_part": round(dag.tfx_part_s / local_s, 3),
            "airflow_us_per_row": round(dag.wall_s / rows * 1e6, 1),
            "local_us_per_row": round(local_s / rows * 1e6, 1),
            "local_dag_runner_peak_rss_mib": round(local_rss_kb / 1024), "task_peak_rss_mib": peak_mib}


def svg_plot(results: list[dict], path: Path) -> None:
    """Wall time against rows (log-log), one line per runner: a plain SVG, no plotting library needed."""
    import math

    width, height, pad = 640, 400, 60
    xs = [math.log10(r["rows"]) for r in results]
    ys = [math.log10(v) for r in results for v in (r["airflow_s"], r["local_dag_runner_s"])]
    x0, x1 = min(xs) - 0.1, max(xs) + 0.1
    y0, y1 = min(ys) - 0.1, max(ys) + 0.1

    def px(x: float, y: float) -> tuple[float, float]:
        return (pad + (x - x0) / (x1 - x0) * (width - 2 * pad),
                height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             'font-size="12">', f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="20" text-anchor="middle">taxi_nightly wall time against rows (log-log)</text>']
    for key, colour, label in (("airflow_s", "#d95f02", "Airflow DAG"),
                               ("local_dag_runner_s", "#1b9e77", "LocalDagRunner")):
        points = [px(math.log10(r["rows"]), math.log10(r[key])) for r in results]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
        for (x, y), r in zip(points, results, strict=True):
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
            parts.append(f'<text x="{x + 5:.1f}" y="{y - 5:.1f}" fill="{colour}">{r[key]:.0f} s</text>')
        ly = 40 if key == "airflow_s" else 56
        parts.append(f'<text x="{pad}" y="{ly}" fill="{colour}">{label}</text>')
    for r in results:
        x, _ = px(math.log10(r["rows"]), y0)
        parts.append(f'<text x="{x:.1f}" y="{height - pad + 20}" text-anchor="middle">{r["rows"]:,} rows</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/scale_curve.py")
    parser.add_argument("--rows", default="15000,150000,1500000")
    parser.add_argument("--plot", default=str(Path(__file__).with_name("scale_curve.svg")))
    parser.add_argument("--results", default=str(Path(__file__).with_name("scale_curve.jsonl")),
                        help="JSON lines kept across runs: the table and plot show the newest result per size")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.rows.split(",")]
    work = Path(tempfile.mkdtemp(prefix="nightshift-scale-"))
    store = Path(args.results)
    for rows in sizes:
        result = measure(rows, work)
        print("JSON " + json.dumps(result), flush=True)
        with store.open("a") as fh:
            fh.write(json.dumps(result) + "\n")
    newest = {r["rows"]: r for r in (json.loads(line) for line in store.read_text().splitlines() if line.strip())}
    results = [newest[n] for n in sorted(newest)]
    print(f"\n{'rows':>10s} {'airflow s':>10s} {'local s':>8s} {'ratio':>6s} {'tfx-part ratio':>14s} "
          f"{'µs/row airflow':>14s} {'µs/row local':>12s} {'stage MiB':>9s} {'gate MiB':>8s}")
    for r in results:
        print(f"{r['rows']:>10,d} {r['airflow_s']:>10.1f} {r['local_dag_runner_s']:>8.1f} {r['ratio']:>6.2f} "
              f"{r['ratio_tfx_part']:>14.2f} {r['airflow_us_per_row']:>14.1f} {r['local_us_per_row']:>12.1f} "
              f"{r['task_peak_rss_mib']['stage_window']:>9d} {r['task_peak_rss_mib']['data_contract_gate']:>8d}")
    svg_plot(results, Path(args.plot))
    print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
