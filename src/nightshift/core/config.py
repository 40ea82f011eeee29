"""Environment-derived settings shared by the CLI, the Airflow side and the TFX runtime.

Everything that differs between a laptop, CI and production is read here, from the
environment (the bootstrap writes a git-ignored `.env` with local values), so code never
hard-codes an endpoint, a bucket or a path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Settings:
    project_root: Path
    var_dir: Path
    s3_endpoint: str | None
    region: str
    runtime_python: Path
    mlmd_sqlite: Path | None
    pipelines_dir: Path  # where the DAG factory looks for <name>/pipeline.yaml
    contracts_dir: Path  # where `nightshift new`, `contract draft` and `validate` find <dataset>/<name>.v<N>.json
    mlmd_mysql: str | None = None  # mysql://user@host:port/db: MLMD shared by every worker (else SQLite)
    runtime_socket: Path | None = None  # the warm TFX runtime (nightshift.core.warm_runtime); None: cold interpreters

    @property
    def runs_dir(self) -> Path:
        return self.var_dir / "runs"

    @property
    def pipeline_root(self) -> Path:
        return self.var_dir / "tfx"

    @property
    def partition_cache_dir(self) -> Path:
        """Raw partitions already staged on this worker (nightshift.control.partition_cache)."""
        return self.var_dir / "cache" / "partitions"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    root = Path(env.get("NIGHTSHIFT_HOME", PROJECT_ROOT)).resolve()
    var_dir = Path(env.get("NIGHTSHIFT_VAR_DIR", root / "var")).resolve()
    mlmd = env.get("NIGHTSHIFT_MLMD_SQLITE", str(var_dir / "mlmd" / "metadata.sqlite"))
    return Settings(
        project_root=root,
        var_dir=var_dir,
        s3_endpoint=env.get("NIGHTSHIFT_S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL") or None,
        region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
        runtime_python=Path(env.get("NIGHTSHIFT_RUNTIME_PYTHON", root / ".venv-tfx" / "bin" / "python")),
        mlmd_sqlite=Path(mlmd) if mlmd else None,
        pipelines_dir=Path(env.get("NIGHTSHIFT_PIPELINES_DIR", root / "pipelines")).resolve(),
        contracts_dir=Path(env.get("NIGHTSHIFT_CONTRACTS_DIR", root / "data_contracts")).resolve(),
        mlmd_mysql=env.get("NIGHTSHIFT_MLMD_MYSQL") or None,
        runtime_socket=_runtime_socket(env.get("NIGHTSHIFT_RUNTIME_SOCKET"), var_dir),
    )


def _runtime_socket(value: str | None, var_dir: Path) -> Path | None:
    """Where the warm TFX runtime listens: var/run/tfx-runtime.sock unless set; `off` always starts cold."""
    from nightshift.core.warm_runtime import SOCKET_NAME

    if value is None or value == "":
        return var_dir / "run" / SOCKET_NAME
    return None if value.lower() == "off" else Path(value)


def load_env_file(path: Path | None = None) -> None:
    """Fill os.environ from the checkout's git-ignored .env (what the bootstrap wrote); set values win."""
    from nightshift.local.envfile import read

    path = path or PROJECT_ROOT / ".env"
    if path.exists():
        for key, value in read(path).items():
            os.environ.setdefault(key, value)
