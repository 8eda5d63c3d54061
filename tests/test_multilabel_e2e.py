"""The multi-label page as a person uses it, in headless Chromium: every label's bar with a
tick at its threshold, the chosen labels listed and dark.

make e2e      # installs chromium if missing, then runs the browser tests
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server, run_service
from tests.test_e2e_browser import BROWSER_MARKS, browser  # noqa: F401  (fixture)

LABELS = ["기쁨", "감사", "분노, 짜증", "불안"]
SCREENSHOT = Path(__file__).resolve().parent.parent / "reports" / "e2e" / "serve-multilabel.png"

pytestmark = BROWSER_MARKS


@pytest.fixture()
def multilabel_run(tmp_path: Path, tiny_bert: Path) -> tuple[Config, Path]:
    """A multi-label config and run: the tiny BERT with an untrained 4-label sigmoid head and a
    calibration.json whose thresholds put two labels over and two under (scores are ~0.5)."""
    from pipeline.io import write_json
    from pipeline.tasks.multilabel.fit import build

    run_dir = tmp_path / "models/ml"
    build(tiny_bert, LABELS).save_pretrained(str(run_dir))
    from pipeline.model.loading import load_tokenizer

    load_tokenizer(tiny_bert).save_pretrained(str(run_dir))
    write_json(run_dir / "labels.json", {"id2label": {str(i): n for i, n in enumerate(LABELS)}})
    cuts = dict(zip(LABELS, [0.05, 0.95, 0.1, 0.9], strict=True))
    write_json(run_dir / "calibration.json",
               {"temperature": 1.0, "kind": "sigmoid", "thresholds": cuts})  # fmt: skip
    cfg = tiny_config_dict(tmp_path, tiny_bert, train={"early_stopping": {"monitor": "val_loss"}})
    cfg["task"] = "multi-label-classification"
    return load_config(write_config(tmp_path / "c.yaml", cfg)), run_dir


def test_type_a_sentence_and_see_every_label_with_its_threshold(browser, multilabel_run) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    config, run_dir = multilabel_run
    wait = WebDriverWait(browser, 60)
    with live_server(run_service(config, run_dir)) as url:
        browser.get(url)
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "ready"))
        browser.find_element(By.ID, "submit").click()  # nothing typed yet
        wait.until(ec.visibility_of_element_located((By.ID, "error")))
        browser.find_element(By.ID, "text").send_keys("친구가 선물을 줬어. 고마워요")
        browser.find_element(By.ID, "submit").click()
        wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#bars .bar-row")))
        rows = browser.find_elements(By.CSS_SELECTOR, "#bars .bar-row")
        assert sorted(r.find_element(By.CLASS_NAME, "bar-label").text for r in rows) == sorted(
            LABELS
        )
        assert len(browser.find_elements(By.CSS_SELECTOR, "#bars .tick")) == len(LABELS)
        chosen = {
            r.find_element(By.CLASS_NAME, "bar-label").text
            for r in browser.find_elements(By.CSS_SELECTOR, "#bars .bar-row.selected")
        }
        assert chosen == {"기쁨", "분노, 짜증"}  # the two low thresholds
        assert "기쁨" in browser.find_element(By.ID, "chosen").text
        assert not browser.find_element(By.ID, "error").is_displayed()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))
