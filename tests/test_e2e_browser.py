"""The web page as a person uses it, in headless Chromium (Debian's chromium + chromium-driver).

    make e2e      # installs chromium if missing, then runs this test

Open the page, type a sentence, submit, wait for the probability bars, check they name the
model's labels, and save a screenshot to reports/e2e/serve.png.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server, run_service
from tests.tiny import TINY_LABELS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT = Path(__file__).resolve().parent.parent / "reports" / "e2e" / "serve.png"
SENTENCE = "친구가 생일 선물을 줘서 정말 고마워요"

# shared with the other page tests (tests/test_pair_e2e.py)
BROWSER_MARKS = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
        reason="needs Debian's chromium and chromium-driver (`make e2e` installs them)",
    ),
]
pytestmark = BROWSER_MARKS


@pytest.fixture()
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-e2e-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1000,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture()
def config(tmp_path: Path, tiny_bert: Path) -> Config:
    return load_config(write_config(tmp_path / "c.yaml", tiny_config_dict(tmp_path, tiny_bert)))


def test_type_a_sentence_and_see_the_bars(browser, config, untrained_run) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    labels = {label for label, _, _ in TINY_LABELS}
    groups = {group for _, group, _ in TINY_LABELS}
    wait = WebDriverWait(browser, 60)
    with live_server(run_service(config, untrained_run)) as url:
        browser.get(url)
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "ready"))
        box = browser.find_element(By.ID, "text")
        box.send_keys(SENTENCE)
        browser.find_element(By.ID, "submit").click()
        wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#bars .bar-row")))
        rows = browser.find_elements(By.CSS_SELECTOR, "#bars .bar-row")
        names = [r.find_element(By.CLASS_NAME, "bar-label").text for r in rows]
        scores = [r.find_element(By.CLASS_NAME, "bar-score").text for r in rows]
        widths = [r.find_element(By.CLASS_NAME, "bar-fill").size["width"] for r in rows]
        group = browser.find_element(By.ID, "group").text
        font = browser.execute_async_script(
            "const done = arguments[0]; document.fonts.ready.then(() => done("
            "[...document.fonts].filter(f => f.family.includes('NanumGothic'))"
            ".map(f => f.status)));"
        )
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))

        assert len(rows) == 4 and set(names) == labels  # top_k 5 cut to the 4 labels
        assert all(s.endswith("%") for s in scores)
        assert widths == sorted(widths, reverse=True) and widths[0] > 0
        assert group in groups
        assert font == ["loaded"]  # the Korean font the app serves, not a system one

        # an example sentence answers with one click, and an error shows on the page
        browser.find_element(By.CLASS_NAME, "example").click()
        wait.until(ec.text_to_be_present_in_element_value((By.ID, "text"), "신나요"))
        box.clear()
        browser.find_element(By.ID, "submit").click()
        wait.until(ec.visibility_of_element_located((By.ID, "error")))
        assert "문장" in browser.find_element(By.ID, "error").text

        # the API docs render from assets the app serves (no CDN)
        browser.get(f"{url}/docs")
        path = (By.CSS_SELECTOR, ".opblock-summary-path")
        wait.until(ec.text_to_be_present_in_element(path, "/predict"))
    assert SCREENSHOT.stat().st_size > 10_000
