"""Commands about data: seeding the landing zone, validating a file, drafting a contract, scaffolding a pipeline."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from nightshift.control.cli.common import spec_for
from nightshift.core import exit_codes
from nightshift.core.config import load_settings
from nightshift.core.errors import NightshiftError
from nightshift.core.spec_loading import load_spec


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
    from nightshift.control.landing import seed
    from nightshift.core.s3 import client_from_env

    spec = spec_for(args.pipeline)
    if not args.file and spec.name != "taxi":
        raise NightshiftError(f"{spec.path}: pass --file <csv> to seed pipeline {spec.name!r} "
                              "(only taxi has a built-in sample: the CSV inside the tfx wheel)")
    source = Path(args.file) if args.file else taxi_csv_path()
    if not source.is_file():
        raise NightshiftError(f"{source}: no such file to seed {spec.name!r} from")
    day = date.fromisoformat(args.date) if args.date else None
    result = seed(client_from_env(role="ingestion"), source, spec.source.uri, spec.source.timestamp_column, day=day)
    how = (f"{result.partitions} daily partitions by {spec.source.timestamp_column}" if spec.source.timestamp_column
           else "one partition (the spec names no source.timestamp_column)")
    print(f"seeded {result.rows} rows from {source} into {result.uri} as {how} ({result.first_day} .. "
          f"{result.last_day})")
    return 0


def contract_for(dataset: str) -> Path:
    """The newest contract version of a dataset: data_contracts/<dataset>/<name>.v<N>.json."""
    import re

    folder = load_settings().contracts_dir / dataset
    versions = sorted(
        ((int(m.group(1)), p) for p in folder.glob("*.json") if (m := re.search(r"\.v(\d+)\.json$", p.name))),
    )
    if not versions:
        raise NightshiftError(f"no contract for dataset {dataset!r}: expected {folder}/<name>.v<N>.json")
    return versions[-1][1]


def cmd_validate(args: argparse.Namespace) -> int:
    from nightshift.control.contracts import load_contract, partition_scope, window_parameters
    from nightshift.control.process_memory import keep_freed_memory_for_reuse
    from nightshift.control.reading import UnreadableInput, read_table
    from nightshift.control.validation import validate_frame
    from nightshift.core.windows import partition_date

    keep_freed_memory_for_reuse()
    contract = load_contract(contract_for(args.dataset))
    day = partition_date(args.source)
    scope = args.scope or ("partition" if day else "window")
    try:
        df = read_table(args.source, expected_columns=_expected_columns(contract),
                        integer_columns=contract.integer_columns())
    except UnreadableInput as exc:
        if args.json:
            print(json.dumps({"source": args.source, "verdict": "unreadable", "error": str(exc)}))
        else:
            print(f"UNREADABLE {exc}")
        return exit_codes.DATA_REJECTED
    if scope == "partition":
        contract = partition_scope(contract)
    if day:
        params = window_parameters(day.isoformat(), (day + _one_day()).isoformat())
    else:
        params = window_parameters(None, None)
    result = validate_frame(df, contract, params)
    if args.json:
        print(json.dumps({"source": args.source, "verdict": "meets" if result.success else "fails",
                          "rows": result.rows, "contract": contract.path.name, "contract_version": contract.version,
                          "scope": scope, "failures": result.failures, "warnings": result.warnings}, indent=2))
        return exit_codes.OK if result.success else exit_codes.CHECK_FAILED
    for line in result.warnings:
        print(f"WARN {line}")
    for line in result.failures:
        print(f"FAIL {line}")
    verdict = "meets" if result.success else "does not meet"
    print(f"{args.source}: {result.rows} rows {verdict} contract {contract.path.name} (v{contract.version}, "
          f"{scope} scope): {len(result.failures)} failure(s), {len(result.warnings)} warning(s)")
    return exit_codes.OK if result.success else exit_codes.CHECK_FAILED


def _one_day():
    from datetime import timedelta

    return timedelta(days=1)


def _expected_columns(contract) -> list[str] | None:
    for e in contract.expectations:
        if e["type"] == "expect_table_columns_to_match_set":
            return list(e["kwargs"].get("column_set", []))
    return None


def cmd_contract_draft(args: argparse.Namespace) -> int:
    from nightshift.control.contract_draft import draft_contract
    from nightshift.control.reading import UnreadableInput, read_table

    try:
        df = read_table(args.sample)
    except UnreadableInput as exc:
        print(f"UNREADABLE {exc}", file=sys.stderr)
        return exit_codes.DATA_REJECTED
    folder = load_settings().contracts_dir / args.dataset
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
    from nightshift.control.scaffold import scaffold

    settings = load_settings()
    made = scaffold(args.name, Path(args.sample), args.label, project_root=settings.project_root,
                    pipelines_dir=settings.pipelines_dir, contracts_dir=settings.contracts_dir,
                    timestamp_column=args.timestamp_column, force=args.force)
    load_spec(made.spec, settings.project_root)  # what the DAG factory will do: fail here, not in Airflow
    print(f"wrote {made.spec}\nwrote {made.module}\nwrote {made.contract}")
    print(f"label {args.label!r}: {len(made.classes)} classes {list(made.classes)}; "
          f"{len(made.numeric)} numeric and {len(made.categorical)} string feature(s)")
    from nightshift.local.store_identities import sync

    if (known := sync(os.environ)) is not None and args.name in known:  # the local stack's store, when it runs
        print(f"the local S3 store now knows {args.name}'s pusher identity (it may write s3 under its push.uri only)")
    print(f"next: nightshift seed {args.name} --file {args.sample}   then trigger {args.name}_nightly")
    return 0
