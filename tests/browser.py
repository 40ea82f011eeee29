"""Debian's Chromium, driven headless by selenium, logged in to the Airflow UI as a person would."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT_SECONDS = 60


@contextmanager
def chromium() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER), \
        "Debian's chromium and chromium-driver are missing: `make bootstrap` installs them (as root)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: Any, condition: Any, seconds: float = WAIT_SECONDS) -> Any:
    """`condition` until it holds; an element React replaced while it was read counts as "not yet"."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def buttons(scope: Any, text: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return [b for b in scope.find_elements(By.TAG_NAME, "button") if b.text.strip() == text]


def log_in(driver: Any, base_url: str, user: str, passwords_file: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base_url + "/")
    wait(driver, lambda d: d.find_elements(By.NAME, "username"))
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(json.loads(passwords_file.read_text())[user])
    buttons(driver, "Sign in")[0].click()
    wait(driver, lambda d: "/auth/login" not in d.current_url)


def trigger_dialog(driver: Any) -> Any:
    """The open Trigger dialog as it is now (React re-renders it: never keep an element across actions)."""
    from selenium.webdriver.common.by import By

    found = [x for x in driver.find_elements(By.CSS_SELECTOR, "[role=dialog]") if "Run Parameters" in x.text]
    return found[-1] if found else None


def settled(driver: Any, read: Any, seconds: float = WAIT_SECONDS) -> Any:
    """`read(driver)` once it stops failing on an element React replaced under it."""
    from selenium.common.exceptions import StaleElementReferenceException

    def attempt(d: Any) -> Any:
        try:
            return (read(d),)
        except StaleElementReferenceException:
            return None

    return wait(driver, attempt, seconds)[0]


def open_trigger_form(driver: Any, base_url: str, dag_id: str) -> None:
    """The DAG page's Trigger dialog, its parameters loaded."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/dags/{dag_id}")
    wait(driver, lambda d: buttons(d, "Trigger"))
    buttons(driver, "Trigger")[0].click()
    wait(driver, lambda d: trigger_dialog(d) is not None and d.find_elements(By.NAME, "element_gate_threshold"))


def toasts(driver: Any) -> list[str]:
    """The texts of the notices on the page now (a notice that closes while it is read is skipped)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    texts = []
    for notice in driver.find_elements(By.CSS_SELECTOR, "[role=status],[role=alert]"):
        try:
            texts.append(notice.text)
        except StaleElementReferenceException:
            continue
    return [t for t in texts if t.strip()]


def type_into(field: Any, value: str) -> None:
    """Select what the field holds, delete it, type `value` and leave the field (as a person tabs on)."""
    from selenium.webdriver.common.keys import Keys

    field.click()
    field.send_keys(Keys.CONTROL + "a")
    field.send_keys(Keys.BACKSPACE)
    field.send_keys(value)
    field.send_keys(Keys.TAB)
