"""A run's artifacts from ML Metadata: what TFX recorded for one Airflow run (TFX interpreter only).

    python -m nightshift_tfx.run_artifacts --mlmd PATH --run-id RUN_ID   -> one JSON line on stdout

TFX attributes every artifact a node produces to the `pipeline_run` context named after the run id
(ours: the Airflow run id), so that context is the run's whole lineage: examples, statistics, schema,
anomalies, transform graph, model, evaluation, blessing, pushed model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def connect(mlmd: str):
    """A read-only view of the store: a SQLite file path, or mysql://user[:password]@host[:port]/db."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from nightshift.core.mlmd import parse_mysql_url

    config = metadata_store_pb2.ConnectionConfig()
    if mlmd.startswith("mysql://"):
        target = parse_mysql_url(mlmd)
        config.mysql.host, config.mysql.port, config.mysql.database = target.host, target.port, target.database
        config.mysql.user, config.mysql.password = target.user, target.password
        config.mysql.skip_db_creation = True
    else:
        if not Path(mlmd).is_file():
            raise FileNotFoundError(f"{mlmd}: no ML Metadata store there")
        config.sqlite.filename_uri = mlmd
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def run_artifacts(mlmd: str, run_id: str) -> list[dict[str, Any]]:
    from ml_metadata.proto import metadata_store_pb2

    store = connect(mlmd)
    where = mlmd.split("@")[-1] if mlmd.startswith("mysql://") else mlmd  # never print a password
    context = store.get_context_by_type_and_name("pipeline_run", run_id)
    if context is None:
        raise LookupError(f"{where}: no pipeline_run context named {run_id!r}")
    types = {t.id: t.name for t in store.get_artifact_types()}
    producers: dict[int, str] = {}
    for event in store.get_events_by_artifact_ids([a.id for a in store.get_artifacts_by_context(context.id)]):
        if event.type == metadata_store_pb2.Event.OUTPUT:
            producers[event.artifact_id] = _node_of(store, event.execution_id)
    return [{"id": a.id, "type": types.get(a.type_id, str(a.type_id)), "uri": a.uri,
             "producer": producers.get(a.id, "")}
            for a in sorted(store.get_artifacts_by_context(context.id), key=lambda a: a.id)]


def _node_of(store: Any, execution_id: int) -> str:
    [execution] = store.get_executions_by_id([execution_id])
    for context in store.get_contexts_by_execution(execution_id):
        if context.name.count(".") == 1:  # "<pipeline>.<node id>": TFX's node context
            return context.name.split(".", 1)[1]
    return str(execution.type_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nightshift_tfx.run_artifacts")
    parser.add_argument("--mlmd", required=True)
    parser.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)
    try:
        artifacts = run_artifacts(args.mlmd, args.run_id)
    except (FileNotFoundError, LookupError) as exc:
        print(json.dumps({"error": str(exc)}))
        return 3
    shown = args.mlmd
    if shown.startswith("mysql://"):
        from nightshift.core.mlmd import parse_mysql_url

        shown = parse_mysql_url(shown).redacted
    print(json.dumps({"run_id": args.run_id, "mlmd": shown, "artifacts": artifacts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
