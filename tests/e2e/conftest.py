"""One Airflow + SeaweedFS stack for all end-to-end tests of the session."""

from __future__ import annotations

import pytest

from nightshift.airflow_api import AirflowClient
from nightshift.services.stack import Stack

DAG_ID = "taxi_nightly"


@pytest.fixture(scope="session")
def stack(s3_server, test_env) -> Stack:
    env = dict(test_env)
    # Only runs we trigger: the scheduler must not add the nightly interval's own run beside them.
    env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
    stack = Stack(env)
    stack.up(timeout=240)
    yield stack
    stack.down(include_s3=False)  # SeaweedFS belongs to the session's s3_server fixture


@pytest.fixture(scope="session")
def api(stack) -> AirflowClient:
    client = AirflowClient.from_env(stack.env)
    client.wait_for_dag(DAG_ID, timeout=240)
    client.unpause(DAG_ID)
    return client


@pytest.fixture(scope="session")
def seeded(stack, taxi_csv):
    from nightshift.landing import seed
    from nightshift.s3 import client_from_env

    return seed(client_from_env(), taxi_csv, "s3://nightshift-raw/taxi/", "trip_start_timestamp")


