"""The taxi_nightly Trigger form in Chromium, as an operator uses it (Airflow 3.3's UI, the session's stack).

Before the fix the form opened with its Trigger button disabled: the empty `Reason` counted as missing."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import pytest
from browser import buttons, chromium, log_in, open_trigger_form, settled, toasts, trigger_dialog, type_into, wait
from selenium.common.exceptions import TimeoutException

from nightshift.core.config import PROJECT_ROOT
from nightshift.core.spec_loading import load_spec

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
DAG_ID = "taxi_nightly"
SCREENSHOTS = PROJECT_ROOT / "docs" / "img"


@pytest.fixture(scope="module")
def ui(stack, api) -> dict:
    spec = load_spec(PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml")
    return {"base": f"http://127.0.0.1:{stack.api_port}", "spec": spec,
            "passwords": Path(stack.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])}


def _runs(api) -> dict[str, dict]:
    return {r["dag_run_id"]: r for r in api.request("GET", f"/dags/{DAG_ID}/dagRuns", "runs",
                                                     params={"limit": 100})["dag_runs"]}


def test_the_form_submits_with_its_defaults_and_the_run_carries_them(ui, api):
    """Paused while the form is used (its 'Unpause on trigger' box cleared), so the run is created and stays
    queued: the form is what is tested, not another training."""

    api.request("PATCH", f"/dags/{DAG_ID}", "pause", json={"is_paused": True})
    before = set(_runs(api))
    new: list[str] = []
    try:
        with chromium() as driver:
            log_in(driver, ui["base"], "admin", ui["passwords"])
            open_trigger_form(driver, ui["base"], DAG_ID)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(SCREENSHOTS / "trigger-form.png"))
            if settled(driver, lambda d: _unpause_box(d).is_selected()):
                settled(driver, lambda d: d.execute_script("arguments[0].click();", _unpause_box(d)) or True)
            enabled, text = settled(driver, lambda d: (buttons(trigger_dialog(d), "Trigger")[0].is_enabled(),
                                                       trigger_dialog(d).text))
            assert enabled, f"the Trigger button is disabled with the form's defaults:\n{text}"
            settled(driver, lambda d: buttons(trigger_dialog(d), "Trigger")[0].click() or True)
            wait(driver, lambda d: any("Dag Run Triggered" in t for t in toasts(d)))
        deadline = time.monotonic() + 60
        while not new and time.monotonic() < deadline:
            new = sorted(set(_runs(api)) - before)
            time.sleep(1)
        assert len(new) == 1, new
        run = _runs(api)[new[0]]
        spec = ui["spec"]
        assert run["run_type"] == "manual" and run["state"] == "queued"
        assert run["conf"] == {"window_days": spec.window.days, "gate_threshold":
                               spec.evaluation.thresholds[spec.evaluation.gate_metric],
                               "experiment_gate_threshold": None, "train_steps": spec.training.train_steps,
                               "publish": True, "retrain_reason": None}
    finally:
        for run_id in new:
            api.request("DELETE", f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}", "delete the form's run")
        api.unpause(DAG_ID)


def _unpause_box(driver):
    from selenium.webdriver.common.by import By

    return [i for i in trigger_dialog(driver).find_elements(By.CSS_SELECTOR, "input[type=checkbox]")
            if "Unpause" in i.find_element(By.XPATH, "./ancestor::label[1]").text][0]


def test_a_threshold_outside_its_bounds_is_held_to_the_bound_the_form_names(ui):
    """Airflow 3.3's number field clamps to the Param's bounds when the field is left (no error text): above 1 it
    holds 1, below the spec's bound it holds the bound; the description names that bound."""
    from selenium.webdriver.common.by import By

    bound = ui["spec"].evaluation.thresholds[ui["spec"].evaluation.gate_metric]
    with chromium() as driver:
        log_in(driver, ui["base"], "admin", ui["passwords"])
        open_trigger_form(driver, ui["base"], DAG_ID)
        held = {}
        for typed in ("1.5", f"{bound / 2:g}", "0.65"):
            settled(driver, lambda d, v=typed: type_into(d.find_element(By.NAME, "element_gate_threshold"), v) or True)
            held[typed] = settled(driver, lambda d: d.find_element(By.NAME, "element_gate_threshold")
                                  .get_attribute("value"))
        assert held == {"1.5": "1", f"{bound / 2:g}": f"{bound:g}", "0.65": "0.65"}
        assert f"the spec's {bound:g} or higher" in settled(driver, lambda d: trigger_dialog(d).text)


def test_a_viewer_who_presses_trigger_is_refused_on_the_page(ui, api):
    before = set(_runs(api))
    with chromium() as driver:
        log_in(driver, ui["base"], "viewer", ui["passwords"])
        open_trigger_form(driver, ui["base"], DAG_ID)
        settled(driver, lambda d: buttons(trigger_dialog(d), "Trigger")[0].click() or True)
        # The toast's title and text can be drawn one after the other: wait until both are there.
        refused = "You do not have permission to perform this action."
        try:
            wait(driver, lambda d: any("Access Denied" in t for t in toasts(d))
                 and any(refused in t for t in toasts(d)))
        except TimeoutException:
            pytest.fail(f"no 'Access Denied' toast saying {refused!r}; toasts: {toasts(driver)}")
    assert set(_runs(api)) == before


def _shown_somewhere(text: str):
    """A wait condition: `text` is on the page, once some scroll position of the page's scrolled boxes shows it.
    The log viewer draws only the lines in view, so each check moves every scrolled box one view further down
    (from the top again after the end), until the line has been drawn."""
    from selenium.webdriver.common.by import By

    views = {"moved": 0}

    def shown(driver) -> bool:
        if text in driver.find_element(By.TAG_NAME, "body").text:
            return True
        ended = driver.execute_script(
            "const step = arguments[0]; let ended = true;"
            "for (const e of document.querySelectorAll('*')) { if (e.scrollHeight > e.clientHeight + 4) {"
            "  const top = Math.floor(step * e.clientHeight * 0.8); e.scrollTop = top;"
            "  if (top < e.scrollHeight - e.clientHeight) { ended = false; } } }"
            "return ended;", views["moved"])
        views["moved"] = 0 if ended else views["moved"] + 1
        return False

    return shown


def test_an_experiment_threshold_with_publish_on_is_refused_with_a_message_on_the_run_page(ui, api, seeded):
    """Airflow's form checks each param alone: the rule that spans two (a lower experiment bar only without
    publishing) is the compile step's, which refuses the run before anything trains; the person who pressed
    Trigger reads why in the failed task's log, in the browser."""
    from selenium.webdriver.common.by import By

    before = set(_runs(api))
    with chromium() as driver:
        log_in(driver, ui["base"], "admin", ui["passwords"])
        open_trigger_form(driver, ui["base"], DAG_ID)
        settled(driver, lambda d: type_into(d.find_element(By.NAME, "element_experiment_gate_threshold"), "0.3")
                or True)
        settled(driver, lambda d: buttons(trigger_dialog(d), "Trigger")[0].click() or True)
        wait(driver, lambda d: any("Dag Run Triggered" in t for t in toasts(d)))
        deadline = time.monotonic() + 60
        while not (new := sorted(set(_runs(api)) - before)) and time.monotonic() < deadline:
            time.sleep(1)
        assert len(new) == 1, new
        run = api.wait_for_run(DAG_ID, new[0], timeout=900, poll=3)
        states = {ti["task_id"]: ti["state"] for ti in api.task_instances(DAG_ID, new[0])}
        assert run["state"] == "failed" and states["compile_tfx_pipeline"] == "failed", states
        assert states["trainer"] == "upstream_failed" and states["pusher"] == "upstream_failed", states

        driver.get(f"{ui['base']}/dags/{DAG_ID}/runs/{quote(new[0])}/tasks/compile_tfx_pipeline")
        wait(driver, _shown_somewhere("experiment_gate_threshold 0.3 is only allowed with publish false"), 120)
