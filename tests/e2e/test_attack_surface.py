"""The running stack as a local attacker finds it: every TCP listener its processes open (read from /proc), each
probed without credentials, and the environment blocks of the warm TFX runtime and the Airflow processes."""

from __future__ import annotations

import json

import pytest
import requests

from nightshift.control.s3_roles import PUSHER_SEED_VAR, ROLES, key_vars
from nightshift.local.stack import RUNTIME, STORAGE_SECRETS

pytestmark = [pytest.mark.e2e, pytest.mark.security, pytest.mark.timeout(900)]


def _secret_values(env: dict[str, str]) -> dict[str, str]:
    """Every secret the stack's settings hold, by name (values compared, not only names)."""
    names = {"AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY",
             "AWS_SECRET_ACCESS_KEY", *(key_vars(role)[1] for role in ROLES)}
    secrets = {name: env[name] for name in names if env.get(name)}
    for name, value in env.items():
        if name.startswith("AIRFLOW_CONN_NIGHTSHIFT_S3"):
            secrets[name] = json.loads(value)["password"]
    return secrets


def test_the_stack_listens_on_exactly_the_s3_door_and_the_api_both_demanding_credentials(stack, procfs):
    roots = [pid for pid in stack.status().values() if pid]
    sockets = procfs.listening(procfs.tree(roots))
    s3_port, api_port = int(stack.env["NIGHTSHIFT_S3_PORT"]), stack.api_port
    assert sorted({(addr, port) for _, addr, port in sockets}) == sorted(
        {("127.0.0.1", s3_port), ("127.0.0.1", api_port)}), sockets
    s3 = requests.get(f"http://127.0.0.1:{s3_port}/nightshift-models/taxi/CURRENT.json", timeout=10)
    assert s3.status_code == 403
    api = requests.get(f"http://127.0.0.1:{api_port}/api/v2/dags", timeout=10)
    assert api.status_code == 401


def test_the_warm_runtime_holds_no_secret_of_the_stack(stack, procfs):
    pid = stack.status()[RUNTIME]
    assert pid is not None, "the warm TFX runtime is not running"
    block = procfs.environ(pid)
    leaked = {name for name, value in _secret_values(stack.env).items() if value in "\0".join(block.values())}
    assert leaked == set(), sorted(leaked)
    assert not any(name.startswith(("AIRFLOW", "AWS_")) for name in block), sorted(block)


def test_no_airflow_process_holds_an_s3_key_of_its_own(stack, procfs):
    """Tasks act through their DAG's connection; the admin's and the roles' variables stay out of Airflow."""
    role_vars = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", *(n for role in ROLES for n in key_vars(role))}
    for name in ("api-server", "scheduler", "dag-processor"):
        pid = stack.status()[name]
        assert pid is not None, name
        assert not role_vars & set(procfs.environ(pid)), (name, sorted(role_vars & set(procfs.environ(pid))))


def test_storage_secrets_reach_only_the_processes_that_run_tasks(stack, procfs):
    """The DAG processor parses DAG files (a pipeline's own, too) and runs DAG callbacks: it never needs the S3
    connections or the pusher seed, so its environment holds neither; the process that runs tasks does. (The API
    server, which needs neither either, rewrites its /proc block with its process title: read from its launch.)"""
    wanted = set(STORAGE_SECRETS) & set(stack.env)
    assert PUSHER_SEED_VAR in wanted and "AIRFLOW_CONN_NIGHTSHIFT_S3" in wanted
    status = stack.status()
    holders = {name: wanted & set(procfs.environ(status[name])) for name in ("scheduler", "dag-processor")}
    assert holders == {"scheduler": set() if stack.celery else wanted, "dag-processor": set()}, holders
    assert not wanted & set(stack.airflow_env("api-server")) and not wanted & set(stack.airflow_env("triggerer"))
