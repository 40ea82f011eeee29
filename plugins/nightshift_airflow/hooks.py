"""Hooks: object storage through the Amazon provider's S3Hook; TFX nodes through SubprocessHook."""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.hooks.subprocess import SubprocessHook

if TYPE_CHECKING:
    from nightshift.core.config import Settings

S3_CONN_ID = "nightshift_s3"  # the publisher identity (nightshift.control.s3_roles): nightly and rollback DAGs' own
# tasks; the Pusher's child gets its pipeline's pusher key instead (PusherAccess), with this connection's endpoint
READER_CONN_ID = "nightshift_s3_reader"  # the reader identity: the compile step downloads the champion with it
SCORING_CONN_ID = "nightshift_s3_scoring"  # the scorer identity: the batch-scoring DAGs
class S3ConnectionAccess:
    """boto3 access configured from an Airflow connection of type aws (endpoint in extra), through the Amazon
    provider's S3Hook, built on first use so that parsing a DAG loads no provider. Not itself a hook: the
    operators need a client and the credentials to hand a child process, nothing of a hook's interface."""

    def __init__(self, aws_conn_id: str = S3_CONN_ID):
        self.aws_conn_id = aws_conn_id

    @cached_property
    def _hook(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id)

    def get_client(self) -> Any:
        return self._hook.get_conn()

    def presigned_get_url(self, bucket: str, key: str, expires_s: int) -> str:
        """A GET URL for one object, signed with SigV4 (botocore signs presigned URLs with SigV2 by default in
        us-east-1, which SigV4-only stores refuse and which bounds no expiry)."""
        from botocore.config import Config

        client = self._hook.get_client_type(config=Config(signature_version="s3v4"))
        return client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                             ExpiresIn=expires_s)

    def keys(self) -> tuple[str, str, str | None]:
        """(access key, secret, session token or None) a child process is given."""
        creds = self._hook.get_credentials()
        return creds.access_key, creds.secret_key, creds.token

    def runtime_env(self) -> dict[str, str]:
        """Credentials and endpoint for a child process, as standard AWS variables (never argv)."""
        access, secret, token = self.keys()
        env = {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret,
               "AWS_DEFAULT_REGION": self._hook.conn_region_name or "us-east-1"}
        if token:
            env["AWS_SESSION_TOKEN"] = token
        endpoint = self._hook.conn_config.endpoint_url
        if endpoint:
            env["NIGHTSHIFT_S3_ENDPOINT"] = endpoint
        return env


class PusherKeyMissing(RuntimeError):
    """The worker was not given the pusher seed: a configuration problem, named with the variable to set."""


class PusherAccess(S3ConnectionAccess):
    """Connection `aws_conn_id`'s endpoint with pipeline `pipeline`'s own pusher key, which may write under that
    pipeline's registry prefix and nowhere else (nightshift.control.s3_roles.pusher_credentials). The Pusher
    loads and runs the model the pipeline's own code built (forms are measured by scoring with it), so a key
    scoped to the pipeline keeps a hostile model away from every other pipeline's registry."""

    def __init__(self, pipeline: str, aws_conn_id: str = S3_CONN_ID):
        super().__init__(aws_conn_id)
        self.pipeline = pipeline

    def keys(self) -> tuple[str, str, str | None]:
        from nightshift.control.s3_roles import PUSHER_SEED_VAR, pusher_credentials

        seed = os.environ.get(PUSHER_SEED_VAR)
        if not seed:
            raise PusherKeyMissing(f"{PUSHER_SEED_VAR} is not set in this worker's environment, so pipeline "
                                   f"{self.pipeline!r}'s pusher has no key; see docs/security.md")
        return (*pusher_credentials(self.pipeline, seed), None)


class TfxRuntimeHook(SubprocessHook):
    """Runs `python -m nightshift_tfx ...` in the TFX interpreter, streaming its log into the task log.

    With the warm runtime listening (`nightshift.core.warm_runtime`; the stack starts it), the module runs in a
    forked child of a process that has TensorFlow and TFX imported already; otherwise in a new interpreter.
    Both get the same arguments, environment and working folder, and report the same exit codes.
    The child holds the S3 keys of `s3` alone, or none when `s3` is None: a step gets only what it uses
    (Transform and Trainer run the pipeline's own code and hold no key at all; the pusher holds its pipeline's).
    """

    MODULE = "nightshift_tfx"

    def __init__(self, settings: Settings, s3: S3ConnectionAccess | None = None):
        super().__init__()
        self.settings = settings
        self.s3 = s3
        self._warm_socket: Any = None
        self.last_result: Any = None  # the warm runtime's measurements of the last child (ChildResult)

    @staticmethod
    def module_arguments(action: str, run_dir: str, node_id: str | None = None) -> list[str]:
        args = [action, "--run-dir", run_dir]
        return args + (["--node", node_id] if node_id else [])

    @classmethod
    def arguments(cls, action: str, run_dir: str, node_id: str | None = None) -> list[str]:
        """The interpreter's arguments: the same for a subprocess and for a pod of the runtime image."""
        return ["-u", "-m", cls.MODULE, *cls.module_arguments(action, run_dir, node_id)]

    def environment(self) -> dict[str, str]:
        from nightshift.core.step_env import step_environment

        env = step_environment(os.environ, None)  # TensorFlow's own settings: nightshift_tfx/__init__.py
        if self.s3 is not None:
            env.update(self.s3.runtime_env())
        return env

    def run_module(self, module: str, args: list[str]) -> int:
        """`python -m module *args` in the runtime interpreter, warm if it is listening; the exit code."""
        env, cwd = self.environment(), str(self.settings.project_root)
        socket_path = self.settings.runtime_socket
        if socket_path is not None:
            from nightshift.core import warm_runtime

            try:
                result = warm_runtime.run(socket_path, module, args, env, cwd, self.log.info,
                                          on_connect=self._remember_socket)
            except warm_runtime.WarmRuntimeUnavailable as exc:
                self.log.info("%s; starting a new interpreter", exc)
            else:
                self.last_result = result
                self.log.info("warm TFX runtime child: %s", result.describe())
                return result.exit_code
            finally:
                self._warm_socket = None
        cmd = [str(self.settings.runtime_python), "-u", "-m", module, *args]
        return int(self.run_command(cmd, env=env, cwd=cwd).exit_code)

    def run(self, action: str, run_dir: str, node_id: str | None = None) -> int:
        return self.run_module(self.MODULE, self.module_arguments(action, run_dir, node_id))

    def _remember_socket(self, sock: Any) -> None:
        self._warm_socket = sock

    def send_sigterm(self) -> None:
        """Task killed: end the child, warm (close its connection) or cold (SIGTERM its process group)."""
        if self._warm_socket is not None:
            from nightshift.core import warm_runtime

            warm_runtime.cancel(self._warm_socket)
            return
        super().send_sigterm()
