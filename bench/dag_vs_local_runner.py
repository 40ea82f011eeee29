"""Benchmark: taxi_nightly through Airflow (one process per TFX node) vs. TFX's LocalDagRunner.

One script, one session, same data, same pipeline definition (nightshift_tfx.pipeline.create_pipeline):
  1. start a private stack (SeaweedFS + Airflow) in a temp folder on ports apart from `make up`'s;
  2. seed the taxi data, trigger taxi_nightly through the REST API, time trigger -> success;
  3. run the same pipeline on the same staged CSV with LocalDagRunner in one .venv-tfx process;
  4. print both wall times, the ratio, and the per-task durations Airflow recorded.

Usage: .venv/bin/python bench/dag_vs_local_runner.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from nightshift.airflow_api import AirflowClient
from nightshift.cli import taxi_csv_path
from nightshift.config import PROJECT_ROOT
from nightshift.landing import seed
from nightshift.run_config import RunConfig
from nightshift.services import envfile
from nightshift.services.stack import Stack

DAG_ID = "taxi_nightly"


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def main() -> int:
    var = Path(tempfile.mkdtemp(prefix="nightshift-bench-"))
    env = envfile.render(PROJECT_ROOT, s3_port=29333, api_port=19080, var_dir=var)
    env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
    env["NIGHTSHIFT_MLMD_SQLITE"] = str(var / "mlmd" / "metadata.sqlite")
    pw = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    pw.parent.mkdir(parents=True, exist_ok=True)
    pw.write_text('{"admin": "bench-only"}')
    import os

    os.environ.update(env)
    stack = Stack(env)
    stack.up(timeout=240)
    try:
        from nightshift.s3 import client_from_env

        seed(client_from_env(), taxi_csv_path(), "s3://nightshift-raw/taxi/", "trip_start_timestamp")
        api = AirflowClient.from_env(env)
        api.wait_for_dag(DAG_ID, timeout=240)
        api.unpause(DAG_ID)
        run_id = "bench_airflow"
        t0 = time.monotonic()
        api.trigger(DAG_ID, conf={}, run_id=run_id)
        run = api.wait_for_run(DAG_ID, run_id, timeout=3600, poll=2)
        airflow_wall = time.monotonic() - t0
        if run["state"] != "success":
            print(f"Airflow run ended {run['state']}; see {var}/log", file=sys.stderr)
            return 1
        tasks = api.task_instances(DAG_ID, run_id)
        run_seconds = _seconds(run["start_date"], run["end_date"])

        # Same RunConfig as the Airflow run, but its own pipeline root and MLMD store.
        airflow_run = RunConfig.read(var / "runs" / "taxi" / run_id)
        local = replace(airflow_run, run_id="bench_local", run_dir=str(var / "runs" / "local"),
                        pipeline_root=str(var / "tfx-local"), mlmd_sqlite=str(var / "mlmd-local" / "m.sqlite"))
        local.write()
        runtime_env = {**stack.process_env(), "TF_USE_LEGACY_KERAS": "1"}
        t0 = time.monotonic()
        proc = subprocess.run([str(PROJECT_ROOT / ".venv-tfx" / "bin" / "python"), "-m", "nightshift_tfx", "local",
                               "--run-dir", local.run_dir], env=runtime_env, capture_output=True, text=True)
        local_wall = time.monotonic() - t0
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
            return 1
    finally:
        stack.down()

    print("\n== taxi pipeline, 15,002 rows, same machine, same session ==")
    print(f"Airflow taxi_nightly (trigger -> success, REST-observed): {airflow_wall:7.1f} s")
    print(f"Airflow taxi_nightly (dag run start -> end, Airflow's clock): {run_seconds:7.1f} s")
    print(f"TFX LocalDagRunner, one process:                           {local_wall:7.1f} s")
    print(f"ratio Airflow / LocalDagRunner:                            {airflow_wall / local_wall:7.2f}x")
    print("\nper-task durations (s):")
    for ti in sorted(tasks, key=lambda t: t.get("start_date") or ""):
        print(f"  {ti['task_id']:32s} {ti.get('duration') or 0:7.1f}  {ti['state']}")
    print(json.dumps({"airflow_wall_s": round(airflow_wall, 1), "airflow_run_s": round(run_seconds, 1),
                      "local_dag_runner_s": round(local_wall, 1), "ratio": round(airflow_wall / local_wall, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
