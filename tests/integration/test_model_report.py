"""`models report` against a real SeaweedFS registry: history chart, serving mark, slices, audit, stored in S3."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from nightshift.control.model_report import publish_report, render
from nightshift.core.registry.store import ModelRegistry

pytestmark = pytest.mark.integration


def test_report_shows_history_serving_slices_and_pointer_changes(s3, bucket, fake_saved_model):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    for i, acc in enumerate((0.71, 0.78, 0.74), start=1):
        registry.publish(fake_saved_model, {
            "model": "m", "pipeline": "m", "run_id": f"run-{i}",
            "metrics": {"overall": {"binary_accuracy": acc, "auc": acc + 0.1},
                        "slices": {"hour": {"3": {"binary_accuracy": acc - 0.05}, "17": {"binary_accuracy": acc}}}},
            "data_window": {"start": None, "end": f"2024-01-0{i}", "rows": 100 * i}})
    registry.rollback(actor="cli:ops", reason="v3 <worse>")
    spec = SimpleNamespace(name="m", push=SimpleNamespace(uri=f"s3://{bucket}/m"), reports_uri=f"s3://{bucket}/r",
                           scoring=SimpleNamespace(output_uri=f"s3://{bucket}/predictions/m"))
    costs = {"run-2": {"trainer": {"wall_s": 40.0, "cpu_s": 70.5, "peak_rss_kb": 900 * 1024},
                       "pusher": {"wall_s": 2.5, "cpu_s": 1.0, "peak_rss_kb": 300 * 1024}}}
    html = render(spec, registry, endpoint="http://127.0.0.1:9", costs=costs)

    polylines = re.findall(r'<polyline [^>]*points="([^"]+)"', html)
    assert len(polylines) == 2 and all(len(p.split()) == 3 for p in polylines)  # two metrics, three versions
    assert "binary_accuracy v2: 0.7800" in html and ">serving</text>" in html
    assert re.search(r'<tr class="serving">\s*<td>2 \(serving\)', html)
    assert "http://127.0.0.1:9/" + bucket + "/r/m/run-1/contract_gate/data_docs.html" in html
    assert "<h3>hour</h3>" in html and "0.6900" in html  # v3's slice hour=3
    assert "v3 &lt;worse&gt;" in html  # audit reason, escaped
    assert "<p>No scored partition yet.</p>" in html
    # What v2's run cost: summed wall and CPU, the heaviest process, the slowest task; other runs recorded none.
    assert re.search(r"<td>v2</td><td><code>run-2</code></td><td>2</td>\s*<td>42.5</td>.*?<td>71.5</td>\s*"
                     r"<td>900</td><td[^>]*>trainer \(40.0 s\)</td>", html, flags=re.S)
    assert "<td>v1</td><td><code>run-1</code>" not in html
    assert "Airflow was not reachable" in render(spec, registry)
    uri = publish_report(spec, registry, html)
    assert uri == f"s3://{bucket}/m/report.html"
    assert s3.get_object(Bucket=bucket, Key="m/report.html")["Body"].read().decode() == html
