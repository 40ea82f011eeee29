"""`nightshift monitor` (realized metrics per scored partition) and `nightshift labels land` (labels in)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date, datetime, timezone
from pathlib import Path

from nightshift.control.cli.common import spec_for
from nightshift.core import exit_codes
from nightshift.core.errors import NightshiftError

EXIT_BREACH = exit_codes.CHECK_FAILED
EXIT_PROBLEM = exit_codes.DATA_REJECTED  # a label feed that cannot be judged


def cmd_monitor(args: argparse.Namespace) -> int:
    """One line per scored partition; exit 1 when a realized metric is below its bound, 3 when a label feed
    cannot be judged. Reads only, unless --record (then as the publisher: the history is in the models bucket)."""
    from nightshift.control.monitoring import monitor
    from nightshift.core.s3 import client_from_env

    spec = spec_for(args.model)
    client = client_from_env(role="publisher" if args.record else "scorer")
    reports = monitor(client, spec, labels_uri=args.labels, record=args.record)
    if args.json:
        print(json.dumps([r.record() for r in reports], indent=2, default=str))
    elif not reports:
        print(f"{spec.name}: no committed prediction partition under {spec.scoring.output_uri}/")
    else:
        for report in reports:
            print(report.line())
    if any(r.breaches for r in reports):
        return EXIT_BREACH
    return EXIT_PROBLEM if any(r.problem for r in reports) else 0


def cmd_labels_land(args: argparse.Namespace) -> int:
    """Upload a label file into `<labels_uri>/date=D/` (create-only: nothing there is replaced), then tell
    Airflow, so the monitor DAG runs now instead of at its daily time."""
    from nightshift.control.airflow_api import AirflowApiError, AirflowClient
    from nightshift.core.s3 import S3Uri, client_from_env, ensure_bucket, put_if_absent

    spec = spec_for(args.model)
    assert spec.monitoring is not None
    source = Path(args.file)
    if not source.is_file():
        raise NightshiftError(f"{source}: no such label file")
    day = date.fromisoformat(args.date).isoformat() if args.date else datetime.now(timezone.utc).date().isoformat()
    target = S3Uri.parse(f"{spec.monitoring.labels_uri}date={day}/{source.name}")
    client = client_from_env(role="ingestion")
    ensure_bucket(client, target.bucket)
    # Label files are small (one per scored partition); read whole to use S3's create-only write.
    if not put_if_absent(client, target.bucket, target.key, source.read_bytes(), content_type="text/csv"):
        raise NightshiftError(f"{target}: already exists; labels are never replaced (land a new file name)")
    print(f"landed {target}")
    try:
        AirflowClient.from_env(dict(os.environ)).asset_event(spec.labels_asset_uri,
                                                             {"partition": f"date={day}", "object": str(target)})
        print(f"{spec.monitor_dag_id} notified (asset {spec.labels_asset_uri})")
    except (AirflowApiError, OSError) as exc:
        print(f"{spec.monitor_dag_id} not notified ({exc}); its daily schedule picks the labels up", file=sys.stderr)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    mon = sub.add_parser("monitor", help="realized metrics of the served model per scored partition "
                                         "(exit 1 when a bound is breached)")
    mon.add_argument("model")
    mon.add_argument("--labels", help="a label file for every partition, or a prefix (ending in /) holding "
                                      "<partition>/ folders, in S3 (s3://...) or on disk; default: the spec's "
                                      "monitoring.labels_uri")
    mon.add_argument("--record", action="store_true", help="also write each result to the monitoring history")
    mon.add_argument("--json", action="store_true", help="every partition's record as a JSON list ([] for none)")
    mon.set_defaults(func=cmd_monitor)

    labels = sub.add_parser("labels", help="label feeds for monitoring")
    labels_sub = labels.add_subparsers(dest="labels_command", required=True)
    land = labels_sub.add_parser("land", help="upload a label file for a scored partition and start the monitor")
    land.add_argument("model")
    land.add_argument("file", help="CSV or Parquet: the scored rows' features (or key) and the label column")
    land.add_argument("--date", help="the scored partition's date YYYY-MM-DD (default: today, UTC)")
    land.set_defaults(func=cmd_labels_land)
