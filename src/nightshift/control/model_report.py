"""`nightshift models report`: one self-contained HTML page per model, also stored next to its versions.

Metric history across versions as an inline SVG chart (the serving version marked), the latest
version's sliced metrics, the audit log, and each version's data-quality report. The chart is a few
lines of SVG written here rather than Altair (which GX already installs) because Altair's HTML loads
the Vega JavaScript from a CDN: this page must open anywhere, offline included, from a bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nightshift.core.registry.store import ModelRegistry
    from nightshift.core.spec import PipelineSpec

REPORT_NAME = "report.html"
CHART_METRICS = ("binary_accuracy", "auc", "precision", "recall", "f1", "sparse_categorical_accuracy")
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ model }}: model versions</title>
<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f4f4f4}
.serving{background:#fff6d5;font-weight:bold}.bad{color:#b00}code{font-size:90%}</style></head><body>
<h1>{{ model }}</h1>
<p>Registry <code>{{ uri }}</code>. Serving: {% if serving %}<b>version {{ serving }}</b>{% else %}nothing{% endif %}.
Generated {{ generated }}.</p>
<h2>Metric history</h2>
{{ chart | safe }}
<h2>Versions</h2>
<table><tr><th>version</th><th>published</th><th>run</th><th>data window</th><th>rows</th>
{% for m in metrics %}<th>{{ m }}</th>{% endfor %}<th>checksums</th><th>data-quality report</th></tr>
{% for v in versions %}<tr class="{{ 'serving' if v.version == serving else '' }}">
<td>{{ v.version }}{% if v.version == serving %} (serving){% endif %}</td><td>{{ v.created_at }}</td>
<td><code>{{ v.run_id }}</code></td><td>{{ v.window }}</td><td>{{ v.rows }}</td>
{% for m in metrics %}<td>{{ "%.4f" | format(v.metrics[m]) if m in v.metrics else "" }}</td>{% endfor %}
<td class="{{ '' if v.ok else 'bad' }}">{{ "OK" if v.ok else "MISMATCH" }}</td>
<td><a href="{{ v.report_url }}">{{ v.report_uri }}</a></td></tr>{% endfor %}
</table>
{% if latest_slices %}<h2>Latest version (v{{ latest }}) by slice</h2>
{% for column, rows in latest_slices.items() %}<h3>{{ column }}</h3>
<table><tr><th>{{ column }}</th>{% for m in metrics %}<th>{{ m }}</th>{% endfor %}</tr>
{% for value, vals in rows %}<tr><td>{{ value }}</td>
{% for m in metrics %}<td>{{ "%.4f" | format(vals[m]) if m in vals else "" }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endfor %}{% endif %}
{% if forms %}<h2>Latest version (v{{ latest }}) in each form</h2>
<p>Each optimised form is published only if it agrees with the SavedModel on held-out rows of the evaluation split.</p>
<table><tr><th>form</th><th>size MB</th><th>max |score diff|</th><th>same label</th><th>accuracy</th>
<th>accuracy delta</th><th>rows/s at publish</th><th>published</th></tr>
{% for f in forms %}<tr class="{{ '' if f.published else 'bad' }}"><td>{{ f.name }}</td>
<td>{{ "%.2f" | format(f.size / 1e6) if f.size is not none else "" }}</td>
<td>{{ "%.2g" | format(f.max_abs_diff) if f.max_abs_diff is not none else "" }}</td>
<td>{{ "%.2f%%" | format(100 * f.same_label) if f.same_label is not none else "" }}</td>
<td>{{ "%.4f" | format(f.accuracy) if f.accuracy is not none else "" }}</td>
<td>{{ "%+.4f" | format(f.accuracy_delta) if f.accuracy_delta is not none else "" }}</td>
<td>{{ "{:,.0f}".format(f.rows_per_second) if f.rows_per_second else "" }}</td>
<td style="text-align:left">{{ "yes" if f.published else "no: " ~ (f.refused | join("; ")) }}</td></tr>{% endfor %}
</table>{% endif %}
<h2>What each run cost</h2>
{% if costs is none %}<p>Airflow was not reachable when this page was made: no task costs.</p>
{% elif not costs %}<p>No task of these runs recorded its cost.</p>
{% else %}<table><tr><th>version</th><th>run</th><th>tasks</th><th>wall s (sum)</th><th></th><th>CPU s</th>
<th>peak RSS MiB</th><th>slowest task</th></tr>
{% for c in costs %}<tr><td>v{{ c.version }}</td><td><code>{{ c.run_id }}</code></td><td>{{ c.tasks }}</td>
<td>{{ "%.1f" | format(c.wall) }}</td><td style="text-align:left;width:12em"><div style="background:#1f77b4;height:.8em;
width:{{ "%.0f" | format(100 * c.wall / max_wall) }}%"></div></td><td>{{ "%.1f" | format(c.cpu) }}</td>
<td>{{ "%.0f" | format(c.peak_mib) }}</td><td style="text-align:left">{{ c.slowest }}</td></tr>{% endfor %}
</table>{% endif %}
<h2>In production: realized metrics and skew by scored partition</h2>
{% if monitoring %}{{ realized_chart | safe }}{{ skew_chart | safe }}
<table><tr><th>partition</th><th>version</th><th>rows scored</th><th>rows labelled</th>
{% for m in realized_metrics %}<th>realized {{ m }}</th>{% endfor %}<th>majority baseline</th><th>skew</th>
<th>breaches</th></tr>
{% for r in monitoring %}<tr class="{{ 'bad' if r.breaches else '' }}"><td>{{ r.partition }}</td>
<td>v{{ r.model_version }}</td><td>{{ r.rows_scored }}</td><td>{{ r.rows_labelled }}</td>
{% for m in realized_metrics %}<td>{{ "%.4f" | format(r.metrics[m]) if r.metrics.get(m) is not none else "" }}</td>
{% endfor %}<td>{{ "%.4f" | format(r.metrics.majority_baseline) if r.metrics.get("majority_baseline") is not none
else "" }}</td><td style="text-align:left">{{ r.skew }}</td><td style="text-align:left">{{ r.breaches | join("; ") }}
</td></tr>{% endfor %}</table>
{% else %}<p>No scored partition yet.</p>{% endif %}
<h2>Pointer changes</h2>
<table><tr><th>when</th><th>action</th><th>from</th><th>to</th><th>by</th><th>why</th></tr>
{% for e in audit %}<tr><td>{{ e.at }}</td><td>{{ e.action }}</td><td>{{ e.from_version }}</td>
<td>{{ e.to_version }}</td><td>{{ e.actor }}</td><td style="text-align:left">{{ e.reason }}</td></tr>{% endfor %}
</table></body></html>
"""


@dataclass
class _Row:
    version: int
    created_at: str
    run_id: str
    window: str
    rows: Any
    metrics: dict[str, float]
    ok: bool
    report_uri: str
    report_url: str


def svg_chart(series: dict[str, list[tuple[int, float]]], serving: int | None, width: int = 720,
              height: int = 260, label: Any = "v{}") -> str:
    """Lines of metric value (0..1) by version (or by any integer position `label` names: a format string
    or a mapping); a dashed marker at the serving version."""
    versions = sorted({v for points in series.values() for v, _ in points})
    if not versions:
        return "<p>No metrics recorded yet.</p>"
    left, right, top, bottom = 50, 150, 15, 35
    span = max(versions[-1] - versions[0], 1)

    def x(v: float) -> float:
        return left + (v - versions[0]) / span * (width - left - right) if len(versions) > 1 else (width - right) / 2

    def y(value: float) -> float:
        return top + (1 - max(0.0, min(1.0, value))) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             'aria-label="metric history">']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eee"/>'
                     f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end">{tick:g}</text>')
    for v in versions:
        text = label[v] if isinstance(label, dict) else label.format(v)
        parts.append(f'<text x="{x(v):.1f}" y="{height - 12}" font-size="11" text-anchor="middle">{text}</text>')
    if serving is not None and serving in versions:
        parts.append(f'<line x1="{x(serving):.1f}" x2="{x(serving):.1f}" y1="{top}" y2="{height - bottom}" '
                     'stroke="#c90" stroke-dasharray="4 3"/>'
                     f'<text x="{x(serving) + 4:.1f}" y="{top + 10}" font-size="11" fill="#c90">serving</text>')
    for i, (name, points) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        coords = " ".join(f"{x(v):.1f},{y(val):.1f}" for v, val in sorted(points))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        parts += [f'<circle cx="{x(v):.1f}" cy="{y(val):.1f}" r="3" fill="{colour}"><title>{name} '
                  f'{label[v] if isinstance(label, dict) else label.format(v)}: {val:.4f}</title></circle>'
                  for v, val in points]
        parts.append(f'<text x="{width - right + 10}" y="{top + 14 * (i + 1)}" font-size="12" fill="{colour}">'
                     f'{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


COST_RUNS = 10  # the newest versions' runs whose task costs are read from Airflow


def run_costs(api: Any, dag_id: str, run_ids: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per run: task -> the cost it recorded (XCom `cost`: wall_s, cpu_s, peak_rss_kb), newest COST_RUNS runs."""
    from urllib.parse import quote

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for run_id in run_ids[-COST_RUNS:]:
        quoted = quote(run_id, safe="")  # scheduled run ids hold ':' and '+'
        out[run_id] = {ti["task_id"]: cost for ti in api.task_instances(dag_id, quoted)
                       if (cost := api.xcom(dag_id, quoted, ti["task_id"], key="cost"))}
    return out


@dataclass
class _Cost:
    version: int
    run_id: str
    tasks: int
    wall: float
    cpu: float
    peak_mib: float
    slowest: str


def _cost_rows(versions: list[tuple[int, str]], costs: dict[str, dict[str, dict[str, Any]]]) -> list[_Cost]:
    rows = []
    for version, run_id in versions:
        tasks = costs.get(run_id) or {}
        if not tasks:
            continue
        slowest = max(tasks, key=lambda t: tasks[t]["wall_s"])
        rows.append(_Cost(version, run_id, len(tasks), sum(c["wall_s"] for c in tasks.values()),
                          sum(c["cpu_s"] for c in tasks.values()),
                          max(c["peak_rss_kb"] for c in tasks.values()) / 1024,
                          f"{slowest} ({tasks[slowest]['wall_s']:.1f} s)"))
    return rows


def render(spec: PipelineSpec, registry: ModelRegistry, endpoint: str | None = None,
           costs: dict[str, dict[str, dict[str, Any]]] | None = None) -> str:
    """`costs` (from `run_costs`) adds what each version's run cost; None says Airflow was not reachable."""
    from datetime import datetime, timezone

    import jinja2

    from nightshift.core.registry.forms import form_rows
    from nightshift.core.run_reports import DATA_DOCS, run_reports_uri

    statuses = registry.status()
    pointer = registry.read_pointer()
    serving = pointer.version if pointer else None
    names = [m for m in CHART_METRICS if any(m in s.manifest.metrics.get("overall", {}) for s in statuses)]
    rows = []
    for s in statuses:
        m = s.manifest
        w = m.data_window
        report = run_reports_uri(spec.reports_uri, spec.name, m.run_id, DATA_DOCS)
        url = report
        if endpoint and report.startswith("s3://"):
            url = f"{endpoint.rstrip('/')}/{report[5:]}"  # path-style URL of the same object
        rows.append(_Row(m.version, m.created_at, m.run_id, f"[{w.get('start') or 'beginning'}, {w.get('end')})",
                         w.get("rows", ""), m.metrics.get("overall", {}), not s.problems, report, url))
    series = {n: [(r.version, r.metrics[n]) for r in rows if n in r.metrics] for n in names}
    latest = statuses[-1].manifest if statuses else None
    slices = {}
    if latest:
        for column, values in latest.metrics.get("slices", {}).items():
            slices[column] = sorted(values.items(), key=lambda kv: (len(kv[0]), kv[0]))
    monitoring = _monitoring(spec, registry.client)
    cost_rows = None if costs is None else _cost_rows([(r.version, r.run_id) for r in rows], costs)
    env = jinja2.Environment(autoescape=True)
    return env.from_string(_TEMPLATE).render(
        model=spec.name, uri=spec.push.uri, serving=serving, metrics=names, versions=rows,
        chart=svg_chart(series, serving), latest=latest.version if latest else None, latest_slices=slices,
        forms=form_rows(latest) if latest else [],
        audit=registry.audit_log(), generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        costs=cost_rows, max_wall=max([c.wall for c in cost_rows or []] + [1e-9]), **monitoring)


def _monitoring(spec: PipelineSpec, client: Any) -> dict[str, Any]:
    """Each scored partition: its realized metrics (the monitor's record, when labels arrived) and the skew its
    scoring run measured (the prediction marker), as two charts over partitions and one table."""
    from nightshift.control.monitoring import PartitionReport, read_history, scored_partitions

    recorded = {(r["partition"], r["model_version"]): r for r in read_history(client, spec)}
    rows, skew_series = [], {}
    for i, (partition, marker) in enumerate(scored_partitions(client, spec.scoring.output_uri)):
        record = recorded.get((partition, int(marker["model_version"])), {})
        skew = marker.get("skew") or {}
        rows.append(PartitionReport(partition=partition, predictions="", model_version=int(marker["model_version"]),
                                    scoring_run=str(marker["run_id"]), rows_scored=int(marker["rows"]),
                                    rows_labelled=int(record.get("rows_labelled", 0)),
                                    metrics=record.get("metrics", {}), breaches=record.get("breaches", []),
                                    skew=str(skew.get("status", "not measured"))))
        for name, feature in (skew.get("features") or {}).items():
            skew_series.setdefault(f"{name} ({feature['measure']})", []).append((i, float(feature["value"])))
    ticks = {i: r.partition.removeprefix("date=") for i, r in enumerate(rows)}
    metric_names = [m for m in CHART_METRICS if any(r.metrics.get(m) is not None for r in rows)]
    realized = {f"realized {m}": [(i, r.metrics[m]) for i, r in enumerate(rows) if r.metrics.get(m) is not None]
                for m in metric_names}
    return {"monitoring": rows, "realized_metrics": metric_names,
            "realized_chart": svg_chart(realized, None, label=ticks) if realized else "",
            "skew_chart": svg_chart(skew_series, None, label=ticks) if skew_series else ""}


def publish_report(spec: PipelineSpec, registry: ModelRegistry, html: str) -> str:
    key = f"{registry.prefix}/{REPORT_NAME}"
    registry.client.put_object(Bucket=registry.bucket, Key=key, Body=html.encode(), ContentType="text/html")
    return f"s3://{registry.bucket}/{key}"
