"""The child side of the warm TFX runtime: what the server imports once (PRELOAD), and what a forked child does
to become `python -m MODULE ARGS` for one request: its own process group, the caller's pipe as stdout and
stderr, the request's environment and working folder, the module run as __main__, its exit code as ours.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import time
from typing import NoReturn

log = logging.getLogger("nightshift_tfx.warm_server")

# What the nodes, the compile step and batch scoring import; each is imported once, here.
PRELOAD = (
    "tensorflow",
    "apache_beam",
    "tfx.v1",
    "tfx.orchestration.portable.launcher",
    "tfx.dsl.compiler.compiler",
    "tfx.components.example_gen.csv_example_gen.executor",
    "tfx.components.statistics_gen.executor",
    "tfx.components.schema_gen.executor",
    "tfx.components.example_validator.executor",
    "tfx.components.transform.executor",
    "tfx.components.trainer.executor",
    "tfx.components.evaluator.executor",
    "tensorflow_transform.beam",
    "tensorflow_model_analysis",
    "tensorflow_data_validation",
    "tfx_bsl.public.tfxio",
    "pyarrow.parquet",
    "boto3",
    "nightshift_tfx.runner",
    "nightshift_tfx.pipeline",
    "nightshift_tfx.batch_score",
    "nightshift_tfx.s3_pusher.executor",
    "nightshift_tfx.data_check.executor",
    "nightshift_tfx.forms.build",
    "nightshift_tfx.forms.onnx_export",  # tf2onnx and its op handlers
    "onnxruntime",
)


def become(request: dict, out_fd: int) -> NoReturn:
    """Run the request in this (forked) process and exit with its code; never returns."""
    code = 1
    try:
        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        sys.stdout = sys.__stdout__ = open(1, "w", buffering=1, closefd=False)
        sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, closefd=False)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        code = _run_module(request["module"], request["argv"], request["cwd"])
    except BaseException:  # whatever happens, the child ends here with a status
        import traceback

        traceback.print_exc()
    finally:
        try:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _run_module(module: str, argv: list[str], cwd: str) -> int:
    """`python -m module *argv` in this process; the exit code it would have had."""
    import runpy

    sys.argv = [module, *argv]
    sys.path[0] = cwd  # what `python -m` puts first
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    return 0


def preload(modules: tuple[str, ...] = PRELOAD) -> float:
    started = time.monotonic()
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a module that does not import loads cold in its child
            log.warning("preloading %s failed (%s); children import it themselves", name, exc)
    return time.monotonic() - started
