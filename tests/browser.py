"""Open a report in headless Chromium (Debian's chromium + chromium-driver) and see what it drew."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

# Where screenshots go, so CI keeps them as artifacts (git-ignored).
ARTIFACTS = Path(os.environ.get("JOURNEYS_TEST_ARTIFACTS", ROOT / "test-artifacts"))

# The closed network here refuses Chromium's background connections: keep it from trying.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=900,1200",
)

# Per chart: how many shapes its SVG holds and how big the browser laid it out.
MEASURE = """
const out = {};
for (const figure of document.querySelectorAll('figure[data-chart]')) {
  const svg = figure.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const shapes = svg ? svg.querySelectorAll('rect, path, circle, line').length : 0;
  out[figure.dataset.chart] = {shapes: shapes, width: box.width, height: box.height};
}
return out;
"""


@dataclass(frozen=True)
class Page:
    console_errors: list[str]
    shapes: dict[str, int]
    sizes: dict[str, tuple[float, float]]
    screenshot: Path


def _binaries() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    message = "Chromium is not installed: `make test` installs Debian's chromium and chromium-driver"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def open_report(path: Path) -> Page:
    """Load the page from disk, collect console errors, measure each chart, save a full-page screenshot."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = _binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="journeys-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.get(path.resolve().as_uri())
        measured = driver.execute_script(MEASURE)
        errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.set_window_size(900, min(height + 100, 16000))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        screenshot = ARTIFACTS / f"{path.stem}.png"
        driver.save_screenshot(str(screenshot))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return Page(
        console_errors=errors,
        shapes={name: int(chart["shapes"]) for name, chart in measured.items()},
        sizes={name: (float(chart["width"]), float(chart["height"])) for name, chart in measured.items()},
        screenshot=screenshot,
    )
