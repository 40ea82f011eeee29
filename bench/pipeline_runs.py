"""Shared by the pipeline benchmarks: a private stack, one taxi_nightly run through Airflow, and the same
pipeline under TFX's LocalDagRunner on the very data the Airflow run staged."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from nightshift.control.airflow_api import AirflowClient
from nightshift.core.config import PROJECT_ROOT
from nightshift.core.run_config import RunConfig
from nightshift.local import envfile
from nightshift.local.stack import Stack

DAG_ID = "taxi_nightly"


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


@contextmanager
def private_stack(var: Path, s3_port: int, api_port: int) -> Iterator[tuple[Stack, AirflowClient]]:
    """SeaweedFS, Airflow and the warm TFX runtime in `var`, on ports apart from `make up`'s and the tests'."""
    env = envfile.render(PROJECT_ROOT, s3_port=s3_port, api_port=api_port, var_dir=var)
    env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
    env["NIGHTSHIFT_MLMD_SQLITE"] = str(var / "mlmd" / "metadata.sqlite")
    pw = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    pw.parent.mkdir(parents=True, exist_ok=True)
    pw.write_text('{"admin": "bench-only"}')
    os.environ.update(env)
    stack = Stack(env)
    stack.up(timeout=240)
    try:
        api = AirflowClient.from_env(env)
        api.wait_for_dag(DAG_ID, timeout=240)
        api.unpause(DAG_ID)
        yield stack, api
    finally:
        stack.down()


@dataclass
class DagRun:
    run_id: str
    state: str
    wall_s: float  # trigger -> success, as the REST API saw it
    run_s: float  # the run's own start -> end
    tfx_part_s: float  # compile start -> pusher end: what LocalDagRunner does too
    tasks: list[dict[str, Any]]
    costs: dict[str, dict[str, Any]]  # XCom `cost` per successful task


def run_dag(api: AirflowClient, run_id: str, conf: dict[str, Any] | None = None) -> DagRun:
    t0 = time.monotonic()
    api.trigger(DAG_ID, conf=conf or {}, run_id=run_id)
    run = api.wait_for_run(DAG_ID, run_id, timeout=4 * 3600, poll=2)
    wall = time.monotonic() - t0
    tasks = api.task_instances(DAG_ID, run_id)
    costs = {ti["task_id"]: api.xcom(DAG_ID, run_id, ti["task_id"], "cost") or {}
             for ti in tasks if ti["state"] == "success"}
    by_id = {ti["task_id"]: ti for ti in tasks}
    tfx = (seconds_between(by_id["compile_tfx_pipeline"]["start_date"], by_id["pusher"]["end_date"])
           if run["state"] == "success" else float("nan"))
    return DagRun(run_id, run["state"], wall, seconds_between(run["start_date"], run["end_date"]), tfx, tasks, costs)


def run_local_dag_runner(stack: Stack, airflow_run_id: str) -> tuple[float, int]:
    """LocalDagRunner in one .venv-tfx process on the Airflow run's staged CSV, its own pipeline root and MLMD
    store; (wall seconds, peak RSS in KiB of that process)."""
    var = stack.var
    airflow_run = RunConfig.read(var / "runs" / "taxi" / airflow_run_id)
    local = replace(airflow_run, run_id=f"{airflow_run_id}_local", run_dir=str(var / "runs" / "local"),
                    pipeline_root=str(var / "tfx-local"), mlmd_sqlite=str(var / "mlmd-local" / "m.sqlite"))
    local.write()
    t0 = time.monotonic()
    with (var / "local_dag_runner.log").open("wb") as log:
        proc = subprocess.Popen([str(PROJECT_ROOT / ".venv-tfx" / "bin" / "python"), "-m", "nightshift_tfx",
                                 "local", "--run-dir", local.run_dir], env=stack.process_env(),
                                stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # wait4: the process's own peak RSS, not the children's maximum
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"LocalDagRunner failed; see {var / 'local_dag_runner.log'}")
    return wall, usage.ru_maxrss
