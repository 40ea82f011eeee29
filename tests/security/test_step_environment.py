"""Secrets follow the step: what a runtime child is handed, built from a parent (worker or shell) that holds
Airflow's secrets, every role's keys and the admin's."""

from __future__ import annotations

import pytest

from nightshift.core.step_env import server_environment, step_environment

pytestmark = [pytest.mark.security, pytest.mark.unit]

PARENT = {
    "PATH": "/usr/bin", "HOME": "/home/ops", "NIGHTSHIFT_HOME": "/srv/nightshift", "NIGHTSHIFT_VAR_DIR": "/srv/var",
    "NIGHTSHIFT_S3_ENDPOINT": "http://127.0.0.1:8333", "NIGHTSHIFT_MLMD_PASSWORD": "mlmd-pw",
    "AIRFLOW__CORE__FERNET_KEY": "fernet", "AIRFLOW__API_AUTH__JWT_SECRET": "jwt", "AIRFLOW__API__SECRET_KEY": "api",
    "AIRFLOW_CONN_NIGHTSHIFT_S3": '{"password": "publisher"}', "AWS_ACCESS_KEY_ID": "admin",
    "AWS_SECRET_ACCESS_KEY": "admin-secret", "NIGHTSHIFT_S3_PUBLISHER_SECRET_ACCESS_KEY": "publisher",
    "NIGHTSHIFT_S3_SCORER_ACCESS_KEY_ID": "scorer", "NIGHTSHIFT_S3_SCORER_SECRET_ACCESS_KEY": "scorer-secret",
    "NIGHTSHIFT_S3_PUSHER_SEED": "pusher-seed",
}
SECRET_VALUES = {"fernet", "jwt", "api", '{"password": "publisher"}', "admin", "admin-secret", "publisher",
                 "scorer", "scorer-secret", "pusher-seed"}


def test_a_step_gets_its_own_key_and_the_names_it_needs_nothing_else():
    env = step_environment(PARENT, ("scorer", "scorer-secret"))
    assert env == {"PATH": "/usr/bin", "HOME": "/home/ops", "NIGHTSHIFT_HOME": "/srv/nightshift",
                   "NIGHTSHIFT_VAR_DIR": "/srv/var", "NIGHTSHIFT_S3_ENDPOINT": "http://127.0.0.1:8333",
                   "NIGHTSHIFT_MLMD_PASSWORD": "mlmd-pw", "AWS_ACCESS_KEY_ID": "scorer",
                   "AWS_SECRET_ACCESS_KEY": "scorer-secret", "PYTHONUNBUFFERED": "1"}


def test_a_step_without_a_role_gets_no_key_at_all():
    env = step_environment(PARENT, None)
    assert not set(env.values()) & SECRET_VALUES and "AWS_ACCESS_KEY_ID" not in env


def test_the_warm_server_gets_no_secret_not_even_mlmds():
    env = server_environment(PARENT)
    assert env == {"PATH": "/usr/bin", "HOME": "/home/ops", "NIGHTSHIFT_HOME": "/srv/nightshift",
                   "NIGHTSHIFT_VAR_DIR": "/srv/var"}


def test_a_tfx_node_outside_the_pusher_holds_no_s3_key(monkeypatch):
    """The worker's environment holds secrets; Transform and Trainer (the pipeline's own code) get none."""
    from nightshift_airflow.hooks import TfxRuntimeHook

    from nightshift.core.config import load_settings

    for name, value in PARENT.items():
        if name not in ("PATH", "HOME", "NIGHTSHIFT_HOME", "NIGHTSHIFT_VAR_DIR"):
            monkeypatch.setenv(name, value)
    env = TfxRuntimeHook(load_settings()).environment()
    assert not set(env.values()) & SECRET_VALUES, sorted(env)
    assert not any(name.startswith(("AWS_ACCESS", "AWS_SECRET", "AIRFLOW")) for name in env), sorted(env)
