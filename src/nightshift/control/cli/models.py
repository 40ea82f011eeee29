"""Commands about published versions: list, show, promote, roll back, prune, report, audit, lineage, serve-sync."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from nightshift.control.cli.common import cli_actor, registry_for, spec_for
from nightshift.core.config import load_settings
from nightshift.core.metrics import METRICS
from nightshift.core.registry.forms import choose_engine, form_rows


def _fmt_metrics(metrics: dict) -> str:
    overall = metrics.get("overall", {})
    return " ".join(f"{k}={overall[k]:.4f}" for k in METRICS if k in overall)


def cmd_models_list(args: argparse.Namespace) -> int:
    from nightshift.core.registry.store import ModelRegistry
    from nightshift.core.s3 import client_from_env

    spec = spec_for(args.model)
    registry = ModelRegistry(client_from_env(role="reader"), spec.push.uri)
    statuses = registry.status()
    if not statuses and not args.json:
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


def cmd_models_show(args: argparse.Namespace) -> int:
    registry = registry_for(args.model, "reader")
    manifest = registry.read_manifest(args.version)
    problems = registry.check_files(manifest)
    pointer = registry.read_pointer()
    serving = pointer is not None and pointer.version == args.version
    forms = form_rows(manifest)
    engine, why = choose_engine(manifest)
    if args.json:
        print(json.dumps({"manifest": json.loads(manifest.to_json()), "serving": serving,
                          "checksums": "MISMATCH" if problems else "OK", "problems": problems,
                          "scoring_engine_auto": {"engine": engine, "why": why}}, indent=2))
        return 1 if problems else 0
    window = manifest.data_window
    print(f"{args.model} v{manifest.version}  published {manifest.created_at}  run={manifest.run_id}")
    print(f"  metrics: {_fmt_metrics(manifest.metrics)}")
    print(f"  data window: [{window.get('start') or 'beginning'}, {window.get('end')})  rows={window.get('rows')}")
    print(f"  files: {len(manifest.files)} ({sum(f.size for f in manifest.files)} bytes); --json for the manifest")
    if forms:
        print("forms:")
        for row in forms:
            print(f"  {row.line()}")
        print(f"scoring engine auto: {engine} ({why.removeprefix('auto: ')})")
    print(f"serving: {'yes' if serving else 'no'}")
    print("checksums: " + ("OK" if not problems else "MISMATCH"))
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


def cmd_models_promote(args: argparse.Namespace) -> int:
    pointer = registry_for(args.model, "publisher").promote(args.version, actor=cli_actor(), reason=args.reason)
    print(f"{args.model}: now serving v{pointer.version} ({args.reason})")
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    registry = registry_for(args.model, "publisher")
    before = registry.read_pointer()
    pointer = registry.rollback(actor=cli_actor(), reason=args.reason, to=args.to)
    print(f"{args.model}: rolled back from v{before.version if before else '?'} to v{pointer.version} ({args.reason})")
    return 0


def cmd_models_prune(args: argparse.Namespace) -> int:
    removed = registry_for(args.model, "publisher").prune(args.keep, actor=cli_actor(), dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{args.model}: {verb} {', '.join(f'v{v}' for v in removed) if removed else 'nothing'}")
    return 0


def cmd_models_report(args: argparse.Namespace) -> int:
    from nightshift.control.airflow_api import AirflowApiError, AirflowClient
    from nightshift.control.model_report import publish_report, render, run_costs

    spec = spec_for(args.model)
    registry = registry_for(args.model, "publisher")
    try:  # what each version's run cost: its tasks' XCom `cost`, from Airflow's API
        costs = run_costs(AirflowClient.from_env(dict(os.environ)), spec.nightly_dag_id,
                          [registry.read_manifest(v).run_id for v in registry.versions()])
    except (AirflowApiError, OSError, KeyError) as exc:
        print(f"{args.model}: no run costs in the report (Airflow's API: {exc})", file=sys.stderr)
        costs = None
    html = render(spec, registry, endpoint=load_settings().s3_endpoint, costs=costs)
    out = Path(args.output or load_settings().var_dir / "reports" / f"{args.model}.html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    print(f"{args.model}: report written to {out} and {publish_report(spec, registry, html)}")
    return 0


def cmd_models_audit(args: argparse.Namespace) -> int:
    entries = registry_for(args.model, "reader").audit_log()
    for entry in entries:
        print(entry.line())
    if not entries:
        print(f"{args.model}: no pointer changes recorded")
    return 0


def cmd_serve_sync(args: argparse.Namespace) -> int:
    from nightshift.core.serve_sync import sync_forever, sync_once

    registry = registry_for(args.model, "reader")
    base = Path(args.model_base_path)
    logging.getLogger("nightshift.core.registry.store").setLevel(logging.INFO)  # download progress of big models
    if args.check:
        from nightshift.core.serve_sync import lag

        problem = lag(registry, base)
        print(f"{args.model}: {problem or 'serving the pointer version'}")
        return 1 if problem else 0
    if args.interval:
        logging.getLogger().setLevel(logging.INFO)
        sync_forever(registry, base, args.interval, args.keep, args.format)
        return 0
    from nightshift.control.cli.progress import DownloadProgress

    registry.download_progress = progress = DownloadProgress(f"{args.model} -> {base}")
    try:
        result = sync_once(registry, base, args.keep, args.format)
    finally:
        progress.close()
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
    from nightshift.control.version_lineage import lineage_of

    doc = lineage_of(spec_for(args.model), args.version, load_settings())
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
