"""Benchmark: the taxi contract gate on 1,000,000 rows vs. merely reading the same file with pandas.

Rows are resampled (with replacement) from the real taxi CSV, start times spread over one window.
Each phase runs in a fresh child process so its peak RSS is its own; wall times are measured inside.
The gate's time is that of the first validation in a new process, as an Airflow task runs it
(GX's per-process setup included; only `import great_expectations` is left out, like pandas' import).

Usage: .venv/bin/python bench/validate_throughput.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path


def _make_file(source: Path, rows: int, dest: Path) -> None:
    import numpy as np
    import pandas as pd

    df = pd.read_csv(source, dtype=str, keep_default_na=False)  # text in, text out: no type drift
    rng = np.random.default_rng(7)
    big = df.iloc[rng.integers(0, len(df), rows)].reset_index(drop=True)
    start = 1451606400  # 2016-01-01
    big["trip_start_timestamp"] = (start + rng.integers(0, 365 * 86400, rows)).astype(str)
    big.to_csv(dest, index=False)


def _phase_read(path: str, queue: mp.Queue) -> None:
    import pandas as pd

    t = time.perf_counter()
    df = pd.read_csv(path, low_memory=False)
    queue.put(("pandas.read_csv", time.perf_counter() - t, len(df), _peak_mb()))


def _phase_validate(path: str, contract: str, queue: mp.Queue) -> None:
    from nightshift.control.contracts import load_contract, window_parameters
    from nightshift.control.gate import check_staged

    c = load_contract(contract)
    import great_expectations  # noqa: F401 - import cost is not per-row work; keep it out of the timing

    params = window_parameters("2016-01-01", "2017-01-01")
    t = time.perf_counter()
    result = check_staged(Path(path), c, params)
    elapsed = time.perf_counter() - t
    assert result.success, result.summary_lines()
    queue.put(("nightshift gate (read + GX)", elapsed, result.rows, _peak_mb()))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _median(runs: list[tuple]) -> tuple:
    return sorted(runs, key=lambda r: r[1])[len(runs) // 2]


def _run(target, *args) -> tuple:
    queue: mp.Queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=target, args=(*args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per phase; the median is shown")
    args = parser.parse_args()
    from nightshift.control.cli.data import taxi_csv_path
    from nightshift.core.config import PROJECT_ROOT

    contract = str(PROJECT_ROOT / "data_contracts" / "taxi" / "taxi.v1.json")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "taxi_big.csv"
        _make_file(taxi_csv_path(), args.rows, path)
        size_mb = path.stat().st_size / 1e6
        # Interleaved, so a burst of background load hits every phase alike.
        runs: dict[str, list[tuple]] = {"read": [], "cold": []}
        for _ in range(args.repeat):
            runs["read"].append(_run(_phase_read, str(path)))
            runs["cold"].append(_run(_phase_validate, str(path), contract))
        read, cold = (_median(runs[k]) for k in ("read", "cold"))
        for key, label in (("read", "bare read"), ("cold", "gate")):
            print(f"{label:12s} runs: " + ", ".join(f"{r[1]:.2f} s" for r in runs[key]))
    print(f"\n== {args.rows:,} taxi rows, {size_mb:.0f} MB CSV; median of {args.repeat} fresh processes per phase ==")
    for name, seconds, rows, peak in (read, cold):
        print(f"{name:32s} {seconds:7.2f} s  {rows / seconds:12,.0f} rows/s  peak RSS {peak:7.0f} MB")
    print(f"ratio gate / bare read: time {cold[1] / read[1]:.2f}x, peak memory {cold[3] / read[3]:.2f}x "
          "(goal: time <= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
