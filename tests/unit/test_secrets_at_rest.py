"""Secrets stay out of URLs we print, files others can read, and signals to processes we did not start."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from nightshift.core.errors import NightshiftError
from nightshift.core.mlmd import parse_mysql_url, password_from_env
from nightshift.core.private_file import write_private
from nightshift.local import envfile, pidfile

pytestmark = pytest.mark.unit


def test_the_mlmd_password_comes_from_a_private_file_or_the_environment_never_the_url_we_print(tmp_path):
    url = "mysql://ns@db.internal:3307/mlmd"
    secret_file = tmp_path / "pw"
    write_private(secret_file, "from-file\n")
    assert parse_mysql_url(url, {"NIGHTSHIFT_MLMD_PASSWORD_FILE": str(secret_file),
                                 "NIGHTSHIFT_MLMD_PASSWORD": "from-env"}).password == "from-file"
    target = parse_mysql_url(url, {"NIGHTSHIFT_MLMD_PASSWORD": "from-env"})
    assert (target.password, target.redacted) == ("from-env", url)
    # A password written into the configured URL is still used, and still never shown.
    env = {"NIGHTSHIFT_MLMD_MYSQL": "mysql://ns:in%40url@db.internal:3307/mlmd"}
    assert password_from_env(env) == "in@url" and parse_mysql_url(url, env).password == "in@url"
    assert parse_mysql_url("mysql://ns:in%40url@db.internal:3307/mlmd", {}).redacted == url


def test_a_readable_password_file_and_a_malformed_url_are_refused_without_showing_the_password(tmp_path):
    loose = tmp_path / "pw"
    loose.write_text("hunter2")
    loose.chmod(0o644)
    with pytest.raises(NightshiftError, match=r"readable by others \(mode 0o644\)"):
        password_from_env({"NIGHTSHIFT_MLMD_PASSWORD_FILE": str(loose)})
    with pytest.raises(NightshiftError) as caught:
        parse_mysql_url("mysql://ns:hunter2@db.internal:3307", {})  # no database
    assert "hunter2" not in str(caught.value) and "mysql://ns:***@db.internal:3307" in str(caught.value)


def test_private_files_are_owner_only_from_the_first_byte(tmp_path):
    old = os.umask(0)  # the most permissive umask: the mode must not depend on it
    try:
        target = tmp_path / "secret.json"
        target.write_text("old")
        target.chmod(0o666)
        write_private(target, "new")
    finally:
        os.umask(old)
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.json"]  # no temporary left


def test_every_checkout_gets_its_own_fernet_key_and_an_old_env_file_is_upgraded(tmp_path):
    first = envfile.render(tmp_path)["AIRFLOW__CORE__FERNET_KEY"]
    assert len(first) == 44 and first != envfile.render(tmp_path)["AIRFLOW__CORE__FERNET_KEY"]
    values = envfile.render(tmp_path, var_dir=tmp_path / "var")
    values["AIRFLOW__CORE__FERNET_KEY"] = ""  # written by an earlier version, before S3 identities too
    values = {k: v for k, v in values.items() if not k.startswith("NIGHTSHIFT_S3_") or k.endswith(("PORT", "POINT"))}
    del values["AIRFLOW_CONN_NIGHTSHIFT_S3_SCORING"]
    envfile.write(tmp_path / ".env", values)
    envfile.ensure(tmp_path)
    upgraded = envfile.read(tmp_path / ".env")
    assert len(upgraded["AIRFLOW__CORE__FERNET_KEY"]) == 44
    assert upgraded["NIGHTSHIFT_S3_PORT"] == values["NIGHTSHIFT_S3_PORT"]
    for role in ("publisher", "reader", "scorer", "ingestion"):
        assert upgraded[f"NIGHTSHIFT_S3_{role.upper()}_SECRET_ACCESS_KEY"]
    assert json.loads(upgraded["AIRFLOW_CONN_NIGHTSHIFT_S3_SCORING"])["login"] == \
        upgraded["NIGHTSHIFT_S3_SCORER_ACCESS_KEY_ID"]
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600
    passwords = tmp_path / "var" / "airflow" / "passwords.json"
    assert passwords.stat().st_mode & 0o777 == 0o600


def test_a_pid_file_never_names_a_process_other_than_the_one_it_recorded(tmp_path):
    child = subprocess.Popen(["sleep", "60"])
    try:
        path = tmp_path / "x.pid"
        pidfile.write(path, child.pid)
        assert pidfile.running(path) == child.pid
        pid, started = path.read_text().split()
        path.write_text(f"{pid} {int(started) + 1}\n")  # the same number, another process (PID reuse)
        assert pidfile.running(path) is None and not path.exists()
        path.write_text(f"{pid}\n")  # a file from before start times were recorded: not trusted either
        assert pidfile.running(path) is None
        assert child.poll() is None  # nothing signalled it
    finally:
        child.kill()
        child.wait()
    pidfile.write(path, child.pid)
    assert pidfile.running(path) is None  # exited: the file is stale
