"""Benchmark: staging the taxi window without the partition cache (every partition downloaded, as every run did
before it), with an empty one (downloaded and kept), a warm one (none downloaded) and a warm one missing one
partition (as after a day's partition was rewritten).

Needs the local stack with the taxi data landed (`make up && make demo`, or `nightshift seed taxi`); reads the
stack's .env. Each case runs --repeat times in this process; medians are printed.

Usage: set -a; . ./.env; set +a; .venv/bin/python bench/stage_window_cache.py [--repeat 3] [--raw-uri URI]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from nightshift.control.landing import stage_window
from nightshift.control.partition_cache import PartitionCache
from nightshift.core.s3 import S3Uri, client_from_env
from nightshift.core.windows import DataWindow


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--raw-uri", default="s3://nightshift-raw/taxi/")
    args = parser.parse_args()
    client = client_from_env()
    window = DataWindow(None, date(2100, 1, 1))
    results: dict[str, list[tuple[float, float, int]]] = {"no cache (before)": [], "empty cache": [],
                                                          "warm cache": [], "warm, one partition evicted": []}
    with tempfile.TemporaryDirectory(prefix="nightshift-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for round_ in range(args.repeat):
            cache = PartitionCache(tmp / f"cache{round_}")
            for case in results:
                if case == "warm, one partition evicted":  # as after a day's partition was rewritten
                    staged_first = next(iter(sorted((cache.root).rglob("*.csv"))))
                    staged_first.unlink()
                started, cpu = time.perf_counter(), _cpu()
                staged = stage_window(client, args.raw_uri, window, tmp / "staged.csv",
                                      cache=None if case == "no cache (before)" else cache)
                results[case].append((time.perf_counter() - started, _cpu() - cpu, staged.downloaded))
    bucket = S3Uri.parse(args.raw_uri).bucket
    print(f"\n== stage_window, {args.raw_uri} ({staged.partitions:,} partitions, {staged.rows:,} rows, bucket "
          f"{bucket}); median of {args.repeat} ==")
    base = statistics.median(r[0] for r in results["no cache (before)"])
    for case, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"{case:30s} {wall:6.2f} s  CPU {cpu:5.2f} s  downloaded {runs[0][2]:5d}  "
              f"{wall / base:5.2f}x no cache")
    return 0


if __name__ == "__main__":
    sys.exit(main())
