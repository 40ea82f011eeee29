"""`make demo`: start the local stack, seed the taxi data, run taxi_nightly through Airflow, show the result."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone

from nightshift.control.airflow_api import AirflowClient
from nightshift.core.config import load_env_file
from nightshift.local.stack import from_checkout

DAG_ID = "taxi_nightly"


def main() -> int:
    load_env_file()
    stack = from_checkout()
    print("== starting SeaweedFS and Airflow on 127.0.0.1", flush=True)
    stack.up()

    from nightshift.control.cli import main as cli

    print("== seeding the raw landing zone", flush=True)
    if cli(["seed", "taxi"]) != 0:
        return 1

    client = AirflowClient.from_env(stack.env)
    client.wait_for_dag(DAG_ID)
    run_id = _run_to_follow(client)
    print(f"== following {DAG_ID} run {run_id}; watch it at http://127.0.0.1:{stack.api_port}/dags/{DAG_ID}",
          flush=True)
    started = time.monotonic()

    def show(task_id: str, state: str) -> None:
        print(f"   {time.monotonic() - started:6.0f}s  {task_id:32s} {state}", flush=True)

    run = client.wait_for_run(DAG_ID, run_id, timeout=3600, on_change=show)
    print(f"== run {run_id}: {run['state']} after {time.monotonic() - started:.0f}s", flush=True)
    if run["state"] != "success":
        print(f"see the failed task's log in the UI or under {stack.env['AIRFLOW__LOGGING__BASE_LOG_FOLDER']}")
        return 1
    states = {ti["task_id"]: ti["state"] for ti in client.task_instances(DAG_ID, run_id)}
    if states.get("pusher") == "skipped":
        print("== this run's model was not blessed, so nothing was published (the pusher log says which "
              "metric missed its threshold); the served version is unchanged:")
    print("== published versions:", flush=True)
    return cli(["models", "list", "taxi"])


def _run_to_follow(client: AirflowClient) -> str:
    """Unpausing a never-run DAG makes the scheduler start its latest nightly interval at once
    (catchup only stops older ones): follow that run. Otherwise trigger one, as the UI button does."""
    was_paused = client.request("GET", f"/dags/{DAG_ID}", "get DAG")["is_paused"]
    client.unpause(DAG_ID)
    if was_paused and (started := client.started_run(DAG_ID, within=45)):
        return started
    run_id = f"demo__{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}"
    client.trigger(DAG_ID, conf={}, run_id=run_id)
    return run_id


if __name__ == "__main__":
    sys.exit(main())
