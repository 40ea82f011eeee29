"""Commands that start work elsewhere: trigger a DAG through Airflow's REST API, score a file with a model."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

from nightshift.control.cli.common import spec_for
from nightshift.core import exit_codes
from nightshift.core.config import load_settings
from nightshift.core.errors import NightshiftError


def cmd_trigger(args: argparse.Namespace) -> int:
    """Trigger a DAG through Airflow's REST API, as the UI's Trigger button does.

    A paused DAG with a schedule is not unpaused silently: Airflow would also start the scheduled run it missed."""
    from nightshift.control.airflow_api import AirflowApiError, AirflowClient

    try:
        conf = json.loads(args.conf)
    except json.JSONDecodeError as exc:
        raise NightshiftError(f"--conf must be a JSON object, e.g. '{{\"train_steps\": 500}}': {exc}") from exc
    api = AirflowClient.from_env(dict(os.environ), username=args.user)
    followed: str | None = None  # the run unpausing started, followed instead of a second, triggered one
    try:
        dag = api.wait_for_dag(args.dag_id, timeout=args.parse_timeout)
        if dag.get("is_paused"):
            schedule = dag.get("timetable_summary") or dag.get("timetable_description")
            if schedule and not args.unpause:
                print(f"{args.dag_id} is paused. Unpausing it lets the scheduler start the run its schedule "
                      f"({schedule}) last missed. Pass --unpause to unpause it and follow that run (with --conf or "
                      "--run-id a run of your own starts beside it: the model would train twice), or unpause it "
                      "yourself when the schedule should run.", file=sys.stderr)
                return exit_codes.REFUSED
            api.unpause(args.dag_id)
            if schedule and not conf and not args.run_id:
                followed = api.started_run(args.dag_id, within=UNPAUSE_START_SECONDS)
            if followed:
                print(f"unpaused {args.dag_id}: following the run its schedule ({schedule}) started, {followed}, "
                      "instead of triggering a second one")
            elif schedule:
                print(f"unpaused {args.dag_id}: its scheduled run ({schedule}) may start as well")
        run_id = followed or api.trigger(args.dag_id, conf=conf, run_id=args.run_id)["dag_run_id"]
    except (AirflowApiError, TimeoutError) as exc:
        raise NightshiftError(f"cannot trigger {args.dag_id}: {exc}") from exc
    if not followed:
        print(f"triggered {args.dag_id} run {run_id}")
    if not args.wait:
        return 0
    from nightshift.control.cli.progress import TaskProgress

    progress = TaskProgress(f"{args.dag_id} {run_id}")
    try:
        run = api.wait_for_run(args.dag_id, run_id, timeout=args.timeout, poll=3, on_change=progress)
    finally:
        progress.close()
    print(f"{args.dag_id} run {run_id}: {run['state']}")
    return 0 if run["state"] == "success" else 1


UNPAUSE_START_SECONDS = 30.0  # the scheduler's loop starts an unpaused DAG's latest interval within seconds


def cmd_score(args: argparse.Namespace) -> int:
    """Same code path as the taxi_batch_score DAG's score task, run in the TFX interpreter."""
    from nightshift.control.s3_roles import role_credentials
    from nightshift.core.batch_score_command import MODULE, BatchScoreRequest
    from nightshift.core.step_env import step_environment

    settings = load_settings()
    spec = spec_for(args.model)
    request = BatchScoreRequest(model_uri=spec.push.uri, input=args.input, output=args.output, run_id=args.run_id,
                                chunk_rows=args.chunk_rows or spec.scoring.chunk_rows, version=args.version or None,
                                key_column=spec.scoring.key_column, engine=args.engine or spec.scoring.engine)
    # The scorer identity (writes predictions, nothing else) and the names a step needs; not the shell's .env.
    env = step_environment(os.environ, role_credentials("scorer") or _standard_keys())
    from nightshift.control.cli.progress import ScoreProgress

    progress = ScoreProgress(f"{args.model} {args.input}", sys.stderr if args.json else sys.stdout)  # --json: stdout
    if progress.active:  # holds the one object alone
        env["NIGHTSHIFT_PROGRESS_SECONDS"] = ScoreProgress.PROGRESS_SECONDS
    try:
        code = _run_scorer(settings, MODULE, request.arguments(), env, progress)
    finally:
        progress.close()
    if args.json:
        print(json.dumps(_score_result(args, spec.push.uri, code), indent=2))
    return code


def _run_scorer(settings: Any, module: str, arguments: list[str], env: dict[str, str], on_line: Any) -> int:
    """The scorer in the warm runtime when it listens, else in a new interpreter; each line of its log to
    `on_line`; its exit code."""
    if settings.runtime_socket is not None:  # the local stack's warm runtime: TensorFlow is imported already
        from nightshift.core import warm_runtime

        try:
            return warm_runtime.run(settings.runtime_socket, module, arguments, env, os.getcwd(), on_line).exit_code
        except warm_runtime.WarmRuntimeUnavailable:
            pass  # nobody listening: nothing ran yet, a new interpreter does the same
    with subprocess.Popen([str(settings.runtime_python), "-m", module, *arguments], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as child:
        for line in child.stdout or ():
            on_line(line.rstrip("\n"))
    return child.returncode


def _score_result(args: argparse.Namespace, model_uri: str, code: int) -> dict[str, Any]:
    """What `score --json` prints: the committed marker of the output partition, or why there is none."""
    result: dict[str, Any] = {"model": args.model, "model_uri": model_uri, "input": args.input,
                              "output": args.output, "exit_code": code}
    if code != exit_codes.OK:
        return {**result, "verdict": "failed", "meaning": exit_codes.describe(code)}
    from nightshift.core.predictions import read_marker
    from nightshift.core.s3 import client_from_env

    client = client_from_env(role="scorer") if args.output.startswith("s3://") else None
    return {**result, "verdict": "scored", "marker": read_marker(client, args.output)}


def _standard_keys() -> tuple[str, str] | None:
    """Production: a process given no role variables was given its identity as the standard AWS ones."""
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    return (access, secret) if access and secret else None
