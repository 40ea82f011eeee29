"""The `nightshift` command line (control interpreter)."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

from nightshift.config import load_env_file, load_settings
from nightshift.errors import NightshiftError
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
    source = Path(args.file) if args.file else taxi_csv_path()
    result = seed(client_from_env(), source, spec.source.uri, spec.source.timestamp_column)
    print(f"seeded {result.rows} rows from {source} into {result.uri} as {result.partitions} daily partitions "
          f"({result.first_day} .. {result.last_day})")
    return 0


def _fmt_metrics(metrics: dict) -> str:
    overall = metrics.get("overall", {})
    keys = ("binary_accuracy", "auc", "precision", "recall", "f1")
    return " ".join(f"{k}={overall[k]:.4f}" for k in keys if k in overall)


def cmd_models_list(args: argparse.Namespace) -> int:
    from nightshift.registry.store import ModelRegistry
    from nightshift.s3 import client_from_env

    spec = _spec_for(args.model)
    registry = ModelRegistry(client_from_env(), spec.push.uri)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nightshift", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    seed = sub.add_parser("seed", help="upload a dataset into the raw landing zone, one partition per day")
    seed.add_argument("pipeline", help="pipeline name, e.g. taxi")
    seed.add_argument("--file", help="CSV to seed (default for taxi: the CSV inside the tfx wheel)")
    seed.set_defaults(func=cmd_seed)

    models = sub.add_parser("models", help="published model versions")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    lst = models_sub.add_parser("list", help="each version with metrics, data window and checksum status")
    lst.add_argument("model")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_models_list)
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
