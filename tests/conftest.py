"""Shared fixtures. Servers started here listen on 127.0.0.1 on ports apart from `make up`'s."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ports import SEAWEED_SPAN, free_port

from nightshift.core.config import PROJECT_ROOT
from nightshift.core.private_file import write_private
from nightshift.local import envfile, pidfile

# The session's servers, on ports the OS hands out (or the ones set), so that two test runs, a `make up` stack and
# a test session, can share the machine.
TEST_S3_PORT = int(os.environ.get("NIGHTSHIFT_TEST_S3_PORT") or free_port(SEAWEED_SPAN))
TEST_API_PORT = int(os.environ.get("NIGHTSHIFT_TEST_API_PORT") or free_port())
FOLDER_MARKERS = {"unit": "unit", "integration": "integration", "security": "security", "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test's folder is its kind: `-m unit` selects every test under tests/unit, marker written or not."""
    for item in items:
        folder = Path(str(item.path)).parent.name
        if folder in FOLDER_MARKERS and FOLDER_MARKERS[folder] not in {m.name for m in item.iter_markers()}:
            item.add_marker(FOLDER_MARKERS[folder])


@pytest.fixture(scope="session")
def test_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A complete, private environment (own var dir, ports, credentials) for this test session."""
    var = tmp_path_factory.mktemp("nightshift-var")
    env = envfile.render(PROJECT_ROOT, s3_port=TEST_S3_PORT, api_port=TEST_API_PORT, var_dir=var)
    write_private(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]),
                  f'{{"admin": "{uuid.uuid4().hex}", "viewer": "{uuid.uuid4().hex}"}}')
    env["NIGHTSHIFT_MLMD_SQLITE"] = str(var / "mlmd" / "metadata.sqlite")
    return env


@pytest.fixture(scope="session", autouse=True)
def _apply_test_env(test_env: dict[str, str]) -> Iterator[None]:
    """Every test process sees only the test environment, never a developer's .env."""
    saved = dict(os.environ)
    os.environ.update(test_env)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def s3_server(test_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A real SeaweedFS S3 server on 127.0.0.1:TEST_S3_PORT for the session."""
    from nightshift.local import seaweed, store_identities

    var = Path(test_env["NIGHTSHIFT_VAR_DIR"])
    admin = (test_env["AWS_ACCESS_KEY_ID"], test_env["AWS_SECRET_ACCESS_KEY"])
    proc = seaweed.start(var / "seaweedfs", seaweed.SeaweedPorts(TEST_S3_PORT), *admin, var / "seaweedfs.log",
                         identities=store_identities.identities(test_env))  # roles and pushers, as `make up`
    pidfile.write(var / "run" / "seaweedfs.pid", proc.pid)  # the stack fixture reuses it
    yield test_env
    seaweed.stop(proc.pid)


@pytest.fixture()
def s3(s3_server: dict[str, str]):
    from nightshift.core.s3 import client_from_env

    return client_from_env()


@pytest.fixture()
def bucket(s3) -> Iterator[str]:
    """A bucket of the test's own, removed afterwards with what it holds: SeaweedFS gives each bucket volumes of
    its own, and a session's worth of left-over buckets ran the store out of writable volumes ("No writable
    volumes for collection", seen in a CI run)."""
    from nightshift.core.s3 import list_keys

    name = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    for key in list_keys(s3, name, ""):
        s3.delete_object(Bucket=name, Key=key)
    s3.delete_bucket(Bucket=name)


@pytest.fixture(scope="session")
def taxi_csv() -> Path:
    from nightshift.control.cli.data import taxi_csv_path

    return taxi_csv_path()


@pytest.fixture()
def fake_saved_model(tmp_path: Path) -> Path:
    """A folder in SavedModel layout (content is arbitrary bytes: the registry never parses it)."""
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "assets").mkdir()
    (model / "saved_model.pb").write_bytes(os.urandom(2048))
    (model / "variables" / "variables.index").write_bytes(os.urandom(100))
    (model / "variables" / "variables.data-00000-of-00001").write_bytes(os.urandom(4096))
    (model / "assets" / "vocab.txt").write_text("Cash\nCredit Card\n")
    return model


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
