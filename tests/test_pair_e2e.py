"""The pair (NLI) page as a person uses it, in headless Chromium: two boxes, three bars.

make e2e      # installs chromium if missing, then runs the browser tests
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server, run_service
from tests.test_e2e_browser import BROWSER_MARKS, browser  # noqa: F401  (fixture)

LABELS = ["entailment", "neutral", "contradiction"]
SCREENSHOT = Path(__file__).resolve().parent.parent / "reports" / "e2e" / "serve-pair.png"

pytestmark = BROWSER_MARKS


@pytest.fixture()
def pair_run(tmp_path: Path, tiny_bert: Path) -> tuple[Config, Path]:
    """A pair config and a run directory: the tiny BERT with an untrained 3-label head."""
    from pipeline.io import write_json
    from pipeline.model.loading import load_base_classifier, load_tokenizer

    run_dir = tmp_path / "models/pair"
    id2label = dict(enumerate(LABELS))
    load_base_classifier(tiny_bert, id2label).save_pretrained(str(run_dir))
    load_tokenizer(tiny_bert).save_pretrained(str(run_dir))
    write_json(run_dir / "labels.json", {"id2label": {str(i): n for i, n in id2label.items()}})
    cfg = tiny_config_dict(tmp_path, tiny_bert, ingest={"text_pair_columns": ["p", "h"]})
    cfg["task"] = "text-pair-classification"
    return load_config(write_config(tmp_path / "c.yaml", cfg)), run_dir


def test_type_a_premise_and_a_hypothesis_and_see_three_bars(browser, pair_run) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    config, run_dir = pair_run
    wait = WebDriverWait(browser, 60)
    with live_server(run_service(config, run_dir)) as url:
        browser.get(url)
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "ready"))
        browser.find_element(By.ID, "text").send_keys("친구가 선물을 줬어.")
        hypothesis = browser.find_element(By.ID, "text_pair")
        browser.find_element(By.ID, "submit").click()  # the hypothesis is still empty
        wait.until(ec.visibility_of_element_located((By.ID, "error")))
        assert "가설" in browser.find_element(By.ID, "error").text
        hypothesis.send_keys("친구가 고마워요.")
        browser.find_element(By.ID, "submit").click()
        wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#bars .bar-row")))
        rows = browser.find_elements(By.CSS_SELECTOR, "#bars .bar-row")
        names = [r.find_element(By.CLASS_NAME, "bar-label").text for r in rows]
        assert sorted(names) == sorted(LABELS)
        assert not browser.find_element(By.ID, "error").is_displayed()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))
        # an example fills both boxes and answers with one click
        browser.find_element(By.CLASS_NAME, "example").click()
        wait.until(ec.text_to_be_present_in_element_value((By.ID, "text_pair"), "운동"))
        assert "공원" in browser.find_element(By.ID, "text").get_attribute("value")
