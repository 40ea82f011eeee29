"""Benchmark: taxi_nightly through Airflow (one task per TFX node, warm runtime) vs. TFX's LocalDagRunner.

One script, one session, same data, same pipeline definition (nightshift_tfx.pipeline.create_pipeline):
  1. start a private stack (SeaweedFS + Airflow) in a temp folder on ports apart from `make up`'s;
  2. seed the taxi data, trigger taxi_nightly through the REST API, time trigger -> success;
  3. run the same pipeline on the same staged CSV with LocalDagRunner in one .venv-tfx process;
  4. print both wall times, the ratio, and per task Airflow's duration beside the TFX process's own wall time
     (the warm runtime measures it), so each task's overhead is visible.

Usage: .venv/bin/python bench/dag_vs_local_runner.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from pipeline_runs import private_stack, run_dag, run_local_dag_runner

from nightshift.control.cli.data import taxi_csv_path
from nightshift.control.landing import seed


def main() -> int:
    var = Path(tempfile.mkdtemp(prefix="nightshift-bench-"))
    with private_stack(var, s3_port=29333, api_port=19080) as (stack, api):
        from nightshift.core.s3 import client_from_env

        seed(client_from_env(), taxi_csv_path(), "s3://nightshift-raw/taxi/", "trip_start_timestamp")
        dag = run_dag(api, "bench_airflow")
        if dag.state != "success":
            print(f"Airflow run ended {dag.state}; see {var}/log", file=sys.stderr)
            return 1
        local_wall, _ = run_local_dag_runner(stack, dag.run_id)
    airflow_wall, run_seconds, tfx_seconds = dag.wall_s, dag.run_s, dag.tfx_part_s
    tasks, measured = dag.tasks, dag.costs

    print("\n== taxi pipeline, 15,002 rows, same machine, same session ==")
    print(f"Airflow taxi_nightly (trigger -> success, REST-observed): {airflow_wall:7.1f} s")
    print(f"Airflow taxi_nightly (dag run start -> end, Airflow's clock): {run_seconds:7.1f} s")
    print(f"  of which the TFX part (compile start -> pusher end):        {tfx_seconds:7.1f} s")
    print(f"TFX LocalDagRunner, one process:                           {local_wall:7.1f} s")
    print(f"ratio Airflow / LocalDagRunner, whole DAG:                 {airflow_wall / local_wall:7.2f}x")
    print(f"ratio Airflow / LocalDagRunner, TFX part:                  {tfx_seconds / local_wall:7.2f}x")
    print("\nper task: Airflow's duration; the TFX process's own wall time (the warm runtime's child) and the overhead")
    print("(the difference); the task's cost as it recorded it (XCom `cost`): CPU seconds and peak RSS")
    print(f"  {'task':24s} {'task s':>7s} {'process s':>9s} {'overhead s':>10s} {'cpu s':>7s} "
          f"{'peak RSS MiB':>12s}  state")
    for ti in sorted(tasks, key=lambda t: t.get("start_date") or ""):
        duration = ti.get("duration") or 0.0
        cost = measured.get(ti["task_id"]) or {}
        child = cost.get("runtime_child") or {}
        own = f"{child['wall_s']:9.1f} {duration - child['wall_s']:10.1f}" if child else f"{'-':>9s} {'-':>10s}"
        spent = f"{cost['cpu_s']:7.1f} {cost['peak_rss_kb'] / 1024:12.0f}" if cost else f"{'-':>7s} {'-':>12s}"
        print(f"  {ti['task_id']:24s} {duration:7.1f} {own} {spent}  {ti['state']}")
    print(json.dumps({"airflow_wall_s": round(airflow_wall, 1), "airflow_run_s": round(run_seconds, 1),
                      "airflow_tfx_part_s": round(tfx_seconds, 1), "local_dag_runner_s": round(local_wall, 1),
                      "ratio": round(airflow_wall / local_wall, 2),
                      "ratio_tfx_part": round(tfx_seconds / local_wall, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
