"""The `nightshift` command line (control interpreter): the parser here, each command in the module of its subject."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from nightshift.control.cli import monitoring
from nightshift.control.cli.data import cmd_contract_draft, cmd_new, cmd_seed, cmd_validate
from nightshift.control.cli.models import (
    cmd_lineage,
    cmd_models_audit,
    cmd_models_list,
    cmd_models_promote,
    cmd_models_prune,
    cmd_models_report,
    cmd_models_rollback,
    cmd_models_show,
    cmd_serve_sync,
)
from nightshift.control.cli.outcome import classify
from nightshift.control.cli.runs import cmd_score, cmd_trigger
from nightshift.core.config import load_env_file
from nightshift.core.registry.forms import FORM_ORDER
from nightshift.core.spec import SCORING_ENGINES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nightshift", description="Retrain, validate, publish and score "
                                     "TensorFlow models on Airflow: the command line beside the UI.",
                                     epilog="exit codes: 0 ok, 1 a check found a problem, 2 usage, 3 data "
                                            "rejected, 4 output rejected, 5 not nightshift's, 6 a service is "
                                            "unreachable, 7 refused (see nightshift.core.exit_codes)")
    parser.add_argument("--version", action="version", version=f"nightshift {_version()}")
    parser.add_argument("--debug", action="store_true", help="a traceback instead of one line on errors")
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
    show.add_argument("--json", action="store_true", help="the manifest, serving and checksum status as one object")
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
    sync.add_argument("--format", choices=FORM_ORDER, default="savedmodel",
                      help="savedmodel: TF Serving's <base>/<version>/ layout; onnx, onnx_fp16, onnx_int8: that "
                           "published form as <base>/<version>/model.onnx (ONNX Runtime server, Triton)")
    sync.add_argument("--check", action="store_true",
                      help="change nothing; exit 1 when the folder does not serve the pointer's version (health check)")
    sync.set_defaults(func=cmd_serve_sync)

    monitoring.add_parsers(sub)

    val = sub.add_parser("validate",
                         help="check a file against its dataset's contract (exit 0 ok, 1 fails, 2 unreadable)")
    val.add_argument("dataset")
    val.add_argument("source", help="a local path or s3://bucket/key (CSV, optionally gzip'd)")
    val.add_argument("--scope", choices=["window", "partition"],
                     help="partition skips window-level expectations (row counts); default: partition when the "
                          "path holds date=YYYY-MM-DD, else window")
    val.add_argument("--json", action="store_true", help="the verdict, failures and warnings as one object")
    val.set_defaults(func=cmd_validate)

    score = sub.add_parser("score", help="score a CSV/Parquet file with the published model (exit 0 on success)")
    score.add_argument("model", help="pipeline/model name, e.g. taxi")
    score.add_argument("input", help="local path or s3:// URI")
    score.add_argument("output", help="output partition: s3://bucket/prefix/ or a local folder")
    score.add_argument("--version", type=int, help="a published version (default: the pointer's)")
    score.add_argument("--run-id", default="cli")
    score.add_argument("--chunk-rows", type=int)
    score.add_argument("--engine", choices=SCORING_ENGINES,
                       help="auto (the faster of the SavedModel and the ONNX form, by their speeds measured at "
                            "publish), savedmodel (TensorFlow), or onnx / onnx_fp16 / onnx_int8 (ONNX Runtime on that "
                            "published form of the version); default: the spec's scoring.engine")
    score.add_argument("--json", action="store_true",
                       help="the committed partition's marker (rows, version, engine, file) as one object on stdout; "
                            "the scorer's log goes to stderr")
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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nightshift")
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # a shell's pipe closed early (`| head`): end quietly, as git and the AWS CLI do
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    load_env_file()
    try:
        return int(args.func(args))
    except Exception as exc:
        known = classify(exc)
        if known is None or args.debug:
            raise
        code, message = known
        print(f"nightshift: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
