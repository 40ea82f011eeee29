"""A finished taxi_nightly run in Chromium, as an operator reads it: the gate task's Data Docs link, the pusher's
Published manifest and Model report links, each followed from the task page to the page it names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from browser import chromium, log_in, wait

from nightshift.core.config import PROJECT_ROOT
from nightshift.core.registry.store import ModelRegistry
from nightshift.core.s3 import client_from_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
DAG_ID = "taxi_nightly"
SCREENSHOTS = PROJECT_ROOT / "docs" / "img"


@pytest.fixture(scope="module")
def finished(stack, taxi_published) -> dict:
    assert taxi_published["state"] == "success", taxi_published
    # The model report is made by the command an operator runs; the link is empty until then.
    made = subprocess.run([sys.executable, "-m", "nightshift.control.cli", "models", "report", "taxi"],
                          env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=600, check=False)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    return {**taxi_published, "base": f"http://127.0.0.1:{stack.api_port}",
            "passwords": Path(stack.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])}


def _follow(driver, finished: dict, task: str, name: str) -> str:
    """Open the task's Details tab (where Airflow 3.3 lists a task's extra links), find the link button by name,
    go where it points; the page's text."""
    from selenium.webdriver.common.by import By

    driver.get(f"{finished['base']}/dags/{DAG_ID}/runs/{quote(finished['run_id'])}/tasks/{task}/details")
    anchors = wait(driver, lambda d: [a for a in d.find_elements(By.TAG_NAME, "a") if a.text.strip() == name])
    href = anchors[0].get_attribute("href")
    assert href.startswith("http://127.0.0.1:") and "X-Amz-Signature=" in href, href  # presigned: no key in it
    driver.get(href)
    return wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").text.strip())


def test_the_task_pages_links_open_the_data_docs_the_manifest_and_the_model_report(finished):
    version = finished["version"]
    with chromium() as driver:
        log_in(driver, finished["base"], "admin", finished["passwords"])

        docs = _follow(driver, finished, "data_contract_gate", "Data Docs")
        assert "trip_start_timestamp" in docs and "fare" in docs, docs[:2000]  # GX's page of this run's result
        assert driver.title, "the Data Docs page has no title"

        manifest = json.loads(_follow(driver, finished, "pusher", "Published manifest"))  # Chromium shows JSON as text
        assert (manifest["version"], manifest["run_id"]) == (version, finished["run_id"])

        report = _follow(driver, finished, "pusher", "Model report")
        serving = ModelRegistry(client_from_env(), "s3://nightshift-models/taxi").read_pointer().version
        assert driver.title == "taxi: model versions", driver.title
        assert f"Serving: version {serving}." in report, report[:2000]
        assert f"{serving} (serving)" in report and "Metric history" in report, report[:2000]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / "model-report.png"))
