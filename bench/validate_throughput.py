"""Benchmark: the taxi contract gate on 1,000,000 rows vs. merely reading the same file with pandas, and the
gate's peak memory as the window grows (150k vs 1.5M rows).

Rows are resampled (with replacement) from the real taxi CSV, start times spread over one window.
Each phase runs in a fresh child process so its peak RSS is its own; wall times are measured inside.
The gate's time is that of the first validation in a new process, as an Airflow task runs it
(GX's per-process setup included; only `import great_expectations` is left out, like pandas' import).
Three phases: a bare `pandas.read_csv`; the gate as it runs (chunk by chunk, nightshift.control.gate); and,
as the baseline it replaced, GX on the whole file read into one frame (validation.validate_frame).

Peak RSS is the process's own high-water mark (VmHWM): getrusage's ru_maxrss is not, since Linux carries a
parent's peak over fork and exec into the child's figure.

Usage: .venv/bin/python bench/validate_throughput.py [--rows 1000000] [--repeat 3] [--memory-rows 150000,1500000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

from phases import run_phase  # bench/phases.py

WINDOW = ("2016-01-01", "2017-01-01")


def _make_file(source: Path, rows: int, dest: Path) -> None:
    import numpy as np
    import pandas as pd

    df = pd.read_csv(source, dtype=str, keep_default_na=False)  # text in, text out: no type drift
    rng = np.random.default_rng(7)
    big = df.iloc[rng.integers(0, len(df), rows)].reset_index(drop=True)
    start = 1451606400  # 2016-01-01
    big["trip_start_timestamp"] = (start + rng.integers(0, 365 * 86400, rows)).astype(str)
    big.to_csv(dest, index=False)


def _peak_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def _phase_read(path: str, queue: mp.Queue) -> None:
    import pandas as pd

    t = time.perf_counter()
    df = pd.read_csv(path, low_memory=False)
    queue.put(("pandas.read_csv", time.perf_counter() - t, len(df), _peak_mb()))


def _phase_gate(path: str, contract: str, queue: mp.Queue) -> None:
    from nightshift.control.contracts import load_contract, window_parameters
    from nightshift.control.gate import check_staged

    c = load_contract(contract)
    import great_expectations  # noqa: F401 - import cost is not per-row work; keep it out of the timing

    t = time.perf_counter()
    result = check_staged(Path(path), c, window_parameters(*WINDOW))
    elapsed = time.perf_counter() - t
    assert result.success, result.summary_lines()
    queue.put(("nightshift gate (chunked read + GX)", elapsed, result.rows, _peak_mb()))


def _phase_whole(path: str, contract: str, queue: mp.Queue) -> None:
    from nightshift.control.contracts import load_contract, window_parameters
    from nightshift.control.process_memory import keep_freed_memory_for_reuse
    from nightshift.control.reading import read_table
    from nightshift.control.validation import validate_frame

    c = load_contract(contract)
    import great_expectations  # noqa: F401

    keep_freed_memory_for_reuse()  # as the whole-frame gate ran
    t = time.perf_counter()
    result = validate_frame(read_table(path, integer_columns=c.integer_columns()), c, window_parameters(*WINDOW))
    elapsed = time.perf_counter() - t
    assert result.success, result.summary_lines()
    queue.put(("GX on the whole frame (before)", elapsed, result.rows, _peak_mb()))


def _median(runs: list[tuple]) -> tuple:
    return sorted(runs, key=lambda r: r[1])[len(runs) // 2]




def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per phase; the median is shown")
    parser.add_argument("--memory-rows", default="150000,1500000",
                        help="window sizes whose gate peak RSS is compared (empty: skip)")
    args = parser.parse_args()
    if args.rows < 1 or any(int(n) < 1 for n in args.memory_rows.split(",") if n):
        parser.error("--rows and --memory-rows take positive row counts (an empty --memory-rows skips that part)")
    from nightshift.control.cli.data import taxi_csv_path
    from nightshift.core.config import PROJECT_ROOT

    contract = str(PROJECT_ROOT / "data_contracts" / "taxi" / "taxi.v1.json")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "taxi_big.csv"
        _make_file(taxi_csv_path(), args.rows, path)
        size_mb = path.stat().st_size / 1e6
        # Interleaved, so a burst of background load hits every phase alike.
        phases = {"read": _phase_read, "gate": _phase_gate, "whole": _phase_whole}
        runs: dict[str, list[tuple]] = {k: [] for k in phases}
        for _ in range(args.repeat):
            for key, phase in phases.items():
                extra = () if key == "read" else (contract,)
                runs[key].append(run_phase(phase, str(path), *extra))
        read, gate, whole = (_median(runs[k]) for k in phases)
        for key in phases:
            print(f"{key:6s} runs: " + ", ".join(f"{r[1]:.2f} s" for r in runs[key]))
        sizes = [int(n) for n in args.memory_rows.split(",") if n]
        peaks = []
        for rows in sizes:
            window = Path(tmp) / f"taxi_{rows}.csv"
            _make_file(taxi_csv_path(), rows, window)
            peaks.append(run_phase(_phase_gate, str(window), contract))
            window.unlink()
    print(f"\n== {args.rows:,} taxi rows, {size_mb:.0f} MB CSV; median of {args.repeat} fresh processes per phase ==")
    for name, seconds, rows, peak in (read, gate, whole):
        print(f"{name:36s} {seconds:7.2f} s  {rows / seconds:12,.0f} rows/s  peak RSS {peak:7.0f} MB")
    print(f"ratio gate / bare read: time {gate[1] / read[1]:.2f}x (goal <= 1.5x), peak memory {gate[3] / read[3]:.2f}x")
    print(f"ratio whole-frame GX / bare read: time {whole[1] / read[1]:.2f}x, peak memory {whole[3] / read[3]:.2f}x")
    if peaks:
        print("\n== the gate's peak RSS as the window grows ==")
        for rows, (_, seconds, _, peak) in zip(sizes, peaks, strict=True):
            print(f"{rows:>10,} rows  {seconds:6.2f} s  peak RSS {peak:5.0f} MB")
        if len(peaks) > 1:
            print(f"peak RSS {sizes[-1]:,} / {sizes[0]:,} rows: {peaks[-1][3] / peaks[0][3]:.2f}x (goal <= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
