"""Hooks: object storage through the Amazon provider's S3Hook; TFX nodes through SubprocessHook."""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.hooks.subprocess import SubprocessHook

if TYPE_CHECKING:
    from nightshift.config import Settings

S3_CONN_ID = "nightshift_s3"  # the publisher identity (nightshift.s3_roles): nightly and rollback DAGs
SCORING_CONN_ID = "nightshift_s3_scoring"  # the scorer identity: the batch-scoring DAGs
# What a TFX node process inherits from the worker; everything else is set explicitly.
_PASS_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "NIGHTSHIFT_HOME", "NIGHTSHIFT_VAR_DIR",
                 "NIGHTSHIFT_MLMD_SQLITE", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                 # MLMD's MySQL password reaches a node by environment (or an owner-only file it names), never
                 # through the run config, the IR or the command line
                 "NIGHTSHIFT_MLMD_MYSQL", "NIGHTSHIFT_MLMD_PASSWORD", "NIGHTSHIFT_MLMD_PASSWORD_FILE")


class NightshiftS3Hook:
    """boto3 access configured from the `nightshift_s3` Airflow connection (type aws, endpoint in extra)."""

    def __init__(self, aws_conn_id: str = S3_CONN_ID):
        self.aws_conn_id = aws_conn_id

    @cached_property
    def _hook(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id)

    def get_client(self) -> Any:
        return self._hook.get_conn()

    def runtime_env(self) -> dict[str, str]:
        """Credentials and endpoint for a child process, as standard AWS variables (never argv)."""
        creds = self._hook.get_credentials()
        env = {"AWS_ACCESS_KEY_ID": creds.access_key, "AWS_SECRET_ACCESS_KEY": creds.secret_key,
               "AWS_DEFAULT_REGION": self._hook.conn_region_name or "us-east-1"}
        if creds.token:
            env["AWS_SESSION_TOKEN"] = creds.token
        endpoint = self._hook.conn_config.endpoint_url
        if endpoint:
            env["NIGHTSHIFT_S3_ENDPOINT"] = endpoint
        return env


class TfxRuntimeHook(SubprocessHook):
    """Runs `python -m nightshift_tfx ...` in the TFX interpreter, streaming its log into the task log."""

    def __init__(self, settings: Settings, s3: NightshiftS3Hook | None = None):
        super().__init__()
        self.settings = settings
        self.s3 = s3 or NightshiftS3Hook()

    @staticmethod
    def arguments(action: str, run_dir: str, node_id: str | None = None) -> list[str]:
        """The runtime entry point's arguments: the same for a subprocess and for a pod of the runtime image."""
        args = ["-u", "-m", "nightshift_tfx", action, "--run-dir", run_dir]
        return args + (["--node", node_id] if node_id else [])

    def command(self, action: str, run_dir: str, node_id: str | None = None) -> list[str]:
        return [str(self.settings.runtime_python), *self.arguments(action, run_dir, node_id)]

    def environment(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
        env.update(self.s3.runtime_env())
        env.update({"TF_USE_LEGACY_KERAS": "1", "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "1"})
        return env

    def run_module(self, module: str, args: list[str]) -> int:
        """Any runtime entry point (e.g. nightshift_tfx.batch_score) with the same environment."""
        cmd = [str(self.settings.runtime_python), "-u", "-m", module, *args]
        return int(self.run_command(cmd, env=self.environment(), cwd=str(self.settings.project_root)).exit_code)

    def run(self, action: str, run_dir: str, node_id: str | None = None) -> int:
        result = self.run_command(self.command(action, run_dir, node_id), env=self.environment(),
                                  cwd=str(self.settings.project_root))
        return int(result.exit_code)
