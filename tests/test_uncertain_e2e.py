"""The page's "not sure" note, in headless Chromium (``make e2e``): an answer below
serve.min_score shows the note above its bars (the bars stay), one above it does not.

The tiny run gets a calibration.json with a small temperature, so the same model answers one
sentence surely and (with a min_score between) another unsurely; the footer names it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from pipeline import calibration as cal
from pipeline.config import load_config
from pipeline.io import read_json
from pipeline.model.batched_classifier import BatchedClassifier
from pipeline.model.loading import ModelRef, load_trained
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server, run_service
from tests.test_e2e_browser import BROWSER_MARKS, browser  # noqa: F401  (fixture)

pytestmark = BROWSER_MARKS

SENTENCES = ["친구가 선물을 줬어. 고마워요", "시험 결과를 알려줬어. 걱정돼요", "오늘 발표를 했어."]


def test_an_unsure_answer_shows_the_note_above_its_bars(
    browser,  # noqa: F811  (the fixture imported above)
    trained_run: Path,
    tmp_path: Path,
    tiny_bert: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    run = tmp_path / "models" / "tiny"
    shutil.copytree(trained_run, run)
    t = read_json(run / "calibration.json")["temperature"]
    model, tokenizer = load_trained(ModelRef(name="tiny", run_dir=run))
    tops = cal.scaled_probs(BatchedClassifier(model, tokenizer, 32, 4).predict_logits(SENTENCES), t)
    tops = tops.max(axis=1)
    sure, unsure = SENTENCES[int(np.argmax(tops))], SENTENCES[int(np.argmin(tops))]
    assert tops.max() - tops.min() > 0.02, tops
    min_score = round(float(tops.max() + tops.min()) / 2, 4)
    cfg = tiny_config_dict(tmp_path, tiny_bert, serve={"min_score": min_score})
    config = load_config(write_config(tmp_path / "c.yaml", cfg))
    wait = WebDriverWait(browser, 60)
    with live_server(run_service(config, run)) as url:
        browser.get(url)
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "ready"))
        assert f"calibrated scores (T = {t:.3f})" in browser.find_element(By.ID, "model").text
        box = browser.find_element(By.ID, "text")
        box.send_keys(unsure)
        browser.find_element(By.ID, "submit").click()
        wait.until(ec.visibility_of_element_located((By.ID, "uncertain")))
        note = browser.find_element(By.ID, "uncertain").text
        assert "not sure" in note and f"{min_score * 100:.0f}%" in note
        assert browser.find_elements(By.CSS_SELECTOR, "#bars .bar-row")  # the scores stay

        box.clear()
        box.send_keys(sure)
        browser.find_element(By.ID, "submit").click()
        wait.until(ec.invisibility_of_element_located((By.ID, "uncertain")))
