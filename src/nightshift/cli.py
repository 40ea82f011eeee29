"""The `nightshift` command line (control interpreter)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from nightshift.config import load_env_file, load_settings
from nightshift.errors import NightshiftError
from nightshift.metrics import METRICS
from nightshift.spec import PipelineSpec, load_spec


def _spec_for(name: str) -> PipelineSpec:
    settings = load_settings()
    path = settings.pipelines_dir / name / "pipeline.yaml"
    if not path.exists():
        known = sorted(p.parent.name for p in settings.pipelines_dir.glob("*/pipeline.yaml"))
        raise NightshiftError(f"no pipeline named {name!r} ({path} not found); known: {', '.join(known)}")
    return load_spec(path, settings.project_root)


def taxi_csv_path() -> Path:
    """The Chicago taxi CSV shipped inside the tfx wheel of the runtime interpreter."""
    settings = load_settings()
    code = (
        "import os, tfx; print(os.path.join(os.path.dirname(tfx.__file__), "
        "'examples/chicago_taxi_pipeline/data/simple/data.csv'))"
    )
    out = subprocess.run([str(settings.runtime_python), "-c", code], capture_output=True, text=True, check=True)
    path = Path(out.stdout.strip())
    if not path.is_file():
        raise NightshiftError(f"{path}: the taxi CSV is missing from the tfx wheel; rebuild .venv-tfx")
    return path


def cmd_seed(args: argparse.Namespace) -> int:
    from nightshift.landing import seed
    from nightshift.s3 import client_from_env

    spec = _spec_for(args.pipeline)
    if not args.file and spec.name != "taxi":
        raise NightshiftError(f"{spec.path}: pass --file <csv> to seed pipeline {spec.name!r} "
                              "(only taxi has a built-in sample: the CSV inside the tfx wheel)")
    source = Path(args.file) if args.file else taxi_csv_path()
    if not source.is_file():
        raise NightshiftError(f"{source}: no such file to seed {spec.name!r} from")
    day = date.fromisoformat(args.date) if args.date else None
    result = seed(client_from_env(role="ingestion"), source, spec.source.uri, spec.source.timestamp_column, day=day)
    how = (f"daily partitions by {spec.source.timestamp_column}" if spec.source.timestamp_column
           else "one partition (the spec names no source.timestamp_column)")
    print(f"seeded {result.rows} rows from {source} into {result.uri} as {result.partitions} {how} "
          f"({result.first_day} .. {result.last_day})")
    return 0


def _fmt_metrics(metrics: dict) -> str:
    overall = metrics.get("overall", {})
    return " ".join(f"{k}={overall[k]:.4f}" for k in METRICS if k in overall)


def cmd_models_list(args: argparse.Namespace) -> int:
    from nightshift.registry.store import ModelRegistry
    from nightshift.s3 import client_from_env

    spec = _spec_for(args.model)
    registry = ModelRegistry(client_from_env(role="reader"), spec.push.uri)
    statuses = registry.status()
    if not statuses:
        print(f"no versions published under {spec.push.uri}")
        return 0
    if args.json:
        print(json.dumps([{"version": s.manifest.version, "serving": s.serving, "problems": s.problems,
                           "metrics": s.manifest.metrics.get("overall", {}),
                           "data_window": s.manifest.data_window, "run_id": s.manifest.run_id}
                          for s in statuses], indent=2))
        return 1 if any(s.problems for s in statuses) else 0
    for s in statuses:
        m = s.manifest
        window = m.data_window
        print(f"{'*' if s.serving else ' '} {spec.push.uri}/{m.version}/  {m.created_at}  run={m.run_id}")
        print(f"    metrics: {_fmt_metrics(m.metrics)}")
        print(f"    data window: [{window.get('start') or 'beginning'}, {window.get('end')})  "
              f"rows={window.get('rows')} partitions={window.get('partitions')}")
        print("    checksums: " + ("OK" if not s.problems else "MISMATCH"))
        for problem in s.problems:
            print(f"      {problem}")
    print("(* = the version the pointer serves)")
    return 1 if any(s.problems for s in statuses) else 0


def _registry(model: str, role: str):  # noqa: ANN202 - ModelRegistry, imported lazily
    from nightshift.registry.store import ModelRegistry
    from nightshift.s3 import client_from_env

    return ModelRegistry(client_from_env(role=role), _spec_for(model).push.uri)


def _cli_actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def cmd_models_show(args: argparse.Namespace) -> int:
    registry = _registry(args.model, "reader")
    manifest = registry.read_manifest(args.version)
    problems = registry.check_files(manifest)
    pointer = registry.read_pointer()
    print(manifest.to_json().decode())
    print(f"serving: {'yes' if pointer and pointer.version == args.version else 'no'}")
    print("checksums: " + ("OK" if not problems else "MISMATCH"))
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


def cmd_models_promote(args: argparse.Namespace) -> int:
    pointer = _registry(args.model, "publisher").promote(args.version, actor=_cli_actor(), reason=args.reason)
    print(f"{args.model}: now serving v{pointer.version} ({args.reason})")
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    registry = _registry(args.model, "publisher")
    before = registry.read_pointer()
    pointer = registry.rollback(actor=_cli_actor(), reason=args.reason, to=args.to)
    print(f"{args.model}: rolled back from v{before.version if before else '?'} to v{pointer.version} ({args.reason})")
    return 0


def cmd_models_prune(args: argparse.Namespace) -> int:
    removed = _registry(args.model, "publisher").prune(args.keep, actor=_cli_actor(), dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{args.model}: {verb} {', '.join(f'v{v}' for v in removed) if removed else 'nothing'}")
    return 0


def cmd_models_report(args: argparse.Namespace) -> int:
    from nightshift.model_report import publish_report, render

    spec = _spec_for(args.model)
    registry = _registry(args.model, "publisher")
    html = render(spec, registry, endpoint=load_settings().s3_endpoint)
    out = Path(args.output or load_settings().var_dir / "reports" / f"{args.model}.html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    print(f"{args.model}: report written to {out} and {publish_report(spec, registry, html)}")
    return 0


def cmd_models_audit(args: argparse.Namespace) -> int:
    entries = _registry(args.model, "reader").audit_log()
    for entry in entries:
        print(entry.line())
    if not entries:
        print(f"{args.model}: no pointer changes recorded")
    return 0


def cmd_serve_sync(args: argparse.Namespace) -> int:
    from nightshift.serve_sync import sync_forever, sync_once

    registry = _registry(args.model, "reader")
    base = Path(args.model_base_path)
    if args.check:
        from nightshift.serve_sync import lag

        problem = lag(registry, base)
        print(f"{args.model}: {problem or 'serving the pointer version'}")
        return 1 if problem else 0
    if args.interval:
        logging.getLogger().setLevel(logging.INFO)
        sync_forever(registry, base, args.interval, args.keep)
        return 0
    result = sync_once(registry, base, args.keep)
    if result.serving is None:
        print(f"{args.model}: nothing published yet; {base} left as it was")
        return 0
    print(f"{args.model}: serving v{result.serving} at {base / str(result.serving)}"
          + (" (repaired: the folder on disk did not match its manifest)" if result.repaired else "")
          + (" (downloaded, verified)" if result.downloaded else " (already in place)")
          + (f"; removed {', '.join(f'v{v}' for v in result.removed)}" if result.removed else ""))
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    """Where a published version came from: the manifest, the run's staged partitions and data-quality
    report in S3, and TFX's own record of the run in ML Metadata (read in the TFX interpreter)."""
    from nightshift.lineage import lineage_of

    doc = lineage_of(_spec_for(args.model), args.version, load_settings())
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    m = doc["manifest"]
    print(f"{args.model} v{args.version}{' (serving)' if doc['serving'] else ''}, published {m['created_at']}")
    print(f"  airflow run: {doc['dag_id']} / {m['run_id']}")
    code = m.get("extra", {})
    print(f"  code: revision {code.get('code_revision') or 'unknown'}, tfx {code.get('tfx_version') or '?'}, "
          f"tensorflow {code.get('tensorflow_version') or '?'}")
    w = m.get("data_window", {})
    print(f"  data window: [{w.get('start') or 'beginning'}, {w.get('end')}) {w.get('rows')} rows from "
          f"{w.get('partitions')} partitions ({w.get('first_partition')} .. {w.get('last_partition')})")
    parts = doc["partitions"]
    if parts:
        shown = parts if len(parts) <= 6 else [*parts[:3], None, *parts[-3:]]
        for p in shown:
            print("    ..." if p is None else f"    {p['uri']}  etag {p.get('etag', '')}")
    c = m.get("contract", {})
    print(f"  contract: {c.get('name')} v{c.get('version')} ({c.get('path')}, sha256 {str(c.get('sha256'))[:12]}…)")
    print(f"  data-quality report: {doc['report_uri']}")
    tfx = doc["tfx"]
    if "error" in tfx:
        print(f"  ML Metadata: {tfx['error']}")
    for a in tfx.get("artifacts", []):
        print(f"  {a['producer']:18s} {a['type']:18s} {a['uri']}")
    return 0


def contract_for(dataset: str) -> Path:
    """The newest contract version of a dataset: data_contracts/<dataset>/<name>.v<N>.json."""
    import re

    folder = load_settings().project_root / "data_contracts" / dataset
    versions = sorted(
        ((int(m.group(1)), p) for p in folder.glob("*.json") if (m := re.search(r"\.v(\d+)\.json$", p.name))),
    )
    if not versions:
        raise NightshiftError(f"no contract for dataset {dataset!r}: expected {folder}/<name>.v<N>.json")
    return versions[-1][1]


def cmd_validate(args: argparse.Namespace) -> int:
    from nightshift.contracts import load_contract, validate_frame, window_parameters
    from nightshift.process_memory import keep_freed_memory_for_reuse
    from nightshift.reading import UnreadableInput, read_table
    from nightshift.windows import partition_date

    keep_freed_memory_for_reuse()
    contract = load_contract(contract_for(args.dataset))
    day = partition_date(args.source)
    scope = args.scope or ("partition" if day else "window")
    try:
        df = read_table(args.source, expected_columns=_expected_columns(contract))
    except UnreadableInput as exc:
        print(f"UNREADABLE {exc}")
        return 2
    if scope == "partition":
        from dataclasses import replace

        contract = replace(contract, expectations=[e for e in contract.expectations
                                                   if e.get("meta", {}).get("scope") != "window"])
    if day:
        params = window_parameters(day.isoformat(), (day + _one_day()).isoformat())
    else:
        params = window_parameters(None, None)
    result = validate_frame(df, contract, params)
    for line in result.warnings:
        print(f"WARN {line}")
    for line in result.failures:
        print(f"FAIL {line}")
    verdict = "meets" if result.success else "does not meet"
    print(f"{args.source}: {result.rows} rows {verdict} contract {contract.path.name} (v{contract.version}, "
          f"{scope} scope): {len(result.failures)} failure(s), {len(result.warnings)} warning(s)")
    return 0 if result.success else 1


def _one_day():
    from datetime import timedelta

    return timedelta(days=1)


def _expected_columns(contract) -> list[str] | None:
    for e in contract.expectations:
        if e["type"] == "expect_table_columns_to_match_set":
            return list(e["kwargs"].get("column_set", []))
    return None


def cmd_contract_draft(args: argparse.Namespace) -> int:
    from nightshift.contract_draft import draft_contract
    from nightshift.reading import UnreadableInput, read_table

    try:
        df = read_table(args.sample)
    except UnreadableInput as exc:
        print(f"UNREADABLE {exc}", file=sys.stderr)
        return 2
    folder = load_settings().project_root / "data_contracts" / args.dataset
    out = Path(args.output) if args.output else folder / f"{args.dataset}.v1.json"
    if out.exists() and not args.force:
        raise NightshiftError(f"{out} exists; pass --force to overwrite or --output to write elsewhere")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.timestamp_column and args.timestamp_column not in df.columns:
        raise NightshiftError(f"{args.sample}: timestamp column {args.timestamp_column!r} not found; "
                              f"columns: {', '.join(map(str, df.columns))}")
    doc = draft_contract(df, args.dataset, Path(args.sample).name, timestamp_column=args.timestamp_column)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out} ({len(doc['expectations'])} expectations from {len(df)} sample rows); review it before use")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    from nightshift.scaffold import scaffold
    from nightshift.spec import load_spec

    settings = load_settings()
    made = scaffold(args.name, Path(args.sample), args.label, project_root=settings.project_root,
                    pipelines_dir=settings.pipelines_dir, timestamp_column=args.timestamp_column, force=args.force)
    load_spec(made.spec, settings.project_root)  # what the DAG factory will do: fail here, not in Airflow
    print(f"wrote {made.spec}\nwrote {made.module}\nwrote {made.contract}")
    print(f"label {args.label!r}: {len(made.classes)} classes {list(made.classes)}; "
          f"{len(made.numeric)} numeric and {len(made.categorical)} string feature(s)")
    print(f"next: nightshift seed {args.name} --file {args.sample}   then trigger {args.name}_nightly")
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    """Trigger a DAG through Airflow's REST API, as the UI's Trigger button does.

    A paused DAG with a schedule is not unpaused silently: Airflow would also start the scheduled run it missed."""
    from nightshift.airflow_api import AirflowApiError, AirflowClient

    try:
        conf = json.loads(args.conf)
    except json.JSONDecodeError as exc:
        raise NightshiftError(f"--conf must be a JSON object, e.g. '{{\"train_steps\": 500}}': {exc}") from exc
    api = AirflowClient.from_env(dict(os.environ), username=args.user)
    try:
        dag = api.wait_for_dag(args.dag_id, timeout=args.parse_timeout)
        if dag.get("is_paused"):
            schedule = dag.get("timetable_summary") or dag.get("timetable_description")
            if schedule and not args.unpause:
                print(f"{args.dag_id} is paused. Unpausing it also lets the scheduler start the run its schedule "
                      f"({schedule}) last missed, beside the one you trigger: the model would train twice. "
                      f"Pass --unpause to accept that, or unpause it yourself when the schedule should run.",
                      file=sys.stderr)
                return 2
            api.unpause(args.dag_id)
            if schedule:
                print(f"unpaused {args.dag_id}: its scheduled run ({schedule}) may start as well")
        run = api.trigger(args.dag_id, conf=conf, run_id=args.run_id)
    except (AirflowApiError, TimeoutError) as exc:
        raise NightshiftError(f"cannot trigger {args.dag_id}: {exc}") from exc
    run_id = run["dag_run_id"]
    print(f"triggered {args.dag_id} run {run_id}")
    if not args.wait:
        return 0
    run = api.wait_for_run(args.dag_id, run_id, timeout=args.timeout, poll=3,
                           on_change=lambda task, state: print(f"  {task}: {state}", flush=True))
    print(f"{args.dag_id} run {run_id}: {run['state']}")
    return 0 if run["state"] == "success" else 1


def cmd_score(args: argparse.Namespace) -> int:
    """Same code path as the taxi_batch_score DAG's score task, run in the TFX interpreter."""
    from nightshift.s3_roles import role_credentials

    settings = load_settings()
    spec = _spec_for(args.model)
    cmd = [str(settings.runtime_python), "-m", "nightshift_tfx.batch_score", "--model-uri", spec.push.uri,
           "--input", args.input, "--output", args.output, "--run-id", args.run_id,
           "--chunk-rows", str(args.chunk_rows or spec.scoring.chunk_rows)]
    if args.version:
        cmd += ["--version", str(args.version)]
    if spec.scoring.key_column:
        cmd += ["--key-column", spec.scoring.key_column]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}
    if creds := role_credentials("scorer"):  # the scorer identity: writes predictions, nothing else
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = creds
    return subprocess.run(cmd, env=env).returncode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nightshift", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    seed = sub.add_parser("seed", help="upload a dataset into the raw landing zone, one partition per day")
    seed.add_argument("pipeline", help="pipeline name, e.g. taxi")
    seed.add_argument("--file", help="CSV to seed (default for taxi: the CSV inside the tfx wheel)")
    seed.add_argument("--date", help="partition date YYYY-MM-DD for data without a timestamp column "
                                     "(default: today, UTC)")
    seed.set_defaults(func=cmd_seed)

    new = sub.add_parser("new", help="scaffold a pipeline (spec, contract, model module) from a sample CSV")
    new.add_argument("name", help="pipeline name: a lower-case identifier; DAGs <name>_nightly, <name>_batch_score")
    new.add_argument("--from", dest="sample", required=True, help="sample CSV or Parquet file")
    new.add_argument("--label", required=True, help="the column to predict (2 to 50 classes)")
    new.add_argument("--timestamp-column", help="unix-seconds column that partitions raw data by day")
    new.add_argument("--force", action="store_true", help="overwrite an existing pipeline's files")
    new.set_defaults(func=cmd_new)

    trig = sub.add_parser("trigger", help="trigger a DAG through Airflow's REST API (as the UI's button does)")
    trig.add_argument("dag_id", help="e.g. taxi_nightly")
    trig.add_argument("--conf", default="{}", help="the trigger form's parameters as JSON")
    trig.add_argument("--run-id", help="default: Airflow's manual__<time>")
    trig.add_argument("--wait", action="store_true", help="follow the run; exit 0 only if it succeeds")
    trig.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the run (with --wait)")
    trig.add_argument("--parse-timeout", type=float, default=180,
                      help="seconds to wait for the DAG processor to parse a new DAG")
    trig.add_argument("--user", default="admin")
    trig.add_argument("--unpause", action="store_true",
                      help="unpause a paused scheduled DAG, accepting that its own scheduled run starts too")
    trig.set_defaults(func=cmd_trigger)

    models = sub.add_parser("models", help="published model versions")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    lst = models_sub.add_parser("list", help="each version with metrics, data window and checksum status")
    lst.add_argument("model")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_models_list)
    show = models_sub.add_parser("show", help="one version's manifest and checksum status")
    show.add_argument("model")
    show.add_argument("version", type=int)
    show.set_defaults(func=cmd_models_show)
    promote = models_sub.add_parser("promote", help="serve a given version (its files are verified first)")
    promote.add_argument("model")
    promote.add_argument("version", type=int)
    promote.add_argument("--reason", required=True, help="recorded in the audit log")
    promote.set_defaults(func=cmd_models_promote)
    rollback = models_sub.add_parser("rollback", help="serve an earlier verified version")
    rollback.add_argument("model")
    rollback.add_argument("--to", type=int, help="the version (default: the newest older one that verifies)")
    rollback.add_argument("--reason", required=True, help="recorded in the audit log")
    rollback.set_defaults(func=cmd_models_rollback)
    prune = models_sub.add_parser("prune", help="delete old versions; the serving one is always kept")
    prune.add_argument("model")
    prune.add_argument("--keep", type=int, required=True, help="how many of the newest versions to keep")
    prune.add_argument("--dry-run", action="store_true")
    prune.set_defaults(func=cmd_models_prune)
    report = models_sub.add_parser("report", help="one HTML page: metric history, slices, pointer changes")
    report.add_argument("model")
    report.add_argument("--output", help="local file (default var/reports/<model>.html); also stored in S3")
    report.set_defaults(func=cmd_models_report)
    audit = models_sub.add_parser("audit", help="every pointer change: when, who, from, to, why")
    audit.add_argument("model")
    audit.set_defaults(func=cmd_models_audit)

    lineage = sub.add_parser("lineage", help="where a published version came from: data, contract, run, TFX "
                                              "artifacts")
    lineage.add_argument("model")
    lineage.add_argument("version", type=int)
    lineage.add_argument("--json", action="store_true", help="everything, every partition included")
    lineage.set_defaults(func=cmd_lineage)

    sync = sub.add_parser("serve-sync", help="mirror the serving version into TF Serving's model_base_path")
    sync.add_argument("model")
    sync.add_argument("model_base_path", help="TF Serving's local folder for this model, e.g. /models/taxi")
    sync.add_argument("--interval", type=float, help="seconds between rounds; without it, one round")
    sync.add_argument("--keep", type=int, default=2, help="versions kept locally (the serving one included)")
    sync.add_argument("--check", action="store_true",
                      help="change nothing; exit 1 when the folder does not serve the pointer's version (health check)")
    sync.set_defaults(func=cmd_serve_sync)

    val = sub.add_parser("validate",
                         help="check a file against its dataset's contract (exit 0 ok, 1 fails, 2 unreadable)")
    val.add_argument("dataset")
    val.add_argument("source", help="a local path or s3://bucket/key (CSV, optionally gzip'd)")
    val.add_argument("--scope", choices=["window", "partition"],
                     help="partition skips window-level expectations (row counts); default: partition when the "
                          "path holds date=YYYY-MM-DD, else window")
    val.set_defaults(func=cmd_validate)

    score = sub.add_parser("score", help="score a CSV/Parquet file with the published model (exit 0 on success)")
    score.add_argument("model", help="pipeline/model name, e.g. taxi")
    score.add_argument("input", help="local path or s3:// URI")
    score.add_argument("output", help="output partition: s3://bucket/prefix/ or a local folder")
    score.add_argument("--version", type=int, help="a published version (default: the pointer's)")
    score.add_argument("--run-id", default="cli")
    score.add_argument("--chunk-rows", type=int)
    score.set_defaults(func=cmd_score)

    contract = sub.add_parser("contract", help="data contracts")
    contract_sub = contract.add_subparsers(dest="contract_command", required=True)
    draft = contract_sub.add_parser("draft", help="write a first contract from a sample file, for a person to edit")
    draft.add_argument("dataset")
    draft.add_argument("sample")
    draft.add_argument("--output")
    draft.add_argument("--timestamp-column", help="unix-seconds column: bounded by the run's window, not a range")
    draft.add_argument("--force", action="store_true")
    draft.set_defaults(func=cmd_contract_draft)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    load_env_file()
    try:
        return int(args.func(args))
    except NightshiftError as exc:
        print(f"nightshift: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
