"""The NER page as a person uses it, in headless Chromium: a sentence in, entities marked.

make e2e      # installs chromium if missing, then runs the browser tests
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Config, load_config
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server, run_service
from tests.test_e2e_browser import BROWSER_MARKS, browser  # noqa: F401  (fixture)

TAGS = ["O", "B-LC", "I-LC", "B-PS", "I-PS"]
SCREENSHOT = Path(__file__).resolve().parent.parent / "reports" / "e2e" / "serve-ner.png"

pytestmark = BROWSER_MARKS


@pytest.fixture()
def ner_run(tmp_path: Path, tiny_bert: Path) -> tuple[Config, Path]:
    """A NER run directory: the tiny BERT with a head whose bias makes every piece B-LC (each
    piece its own place), so the page has entities to mark whatever the weights."""
    from pipeline.io import write_json
    from pipeline.model.loading import load_base_classifier, load_tokenizer

    run_dir = tmp_path / "models/ner"
    id2label = dict(enumerate(TAGS))
    model = load_base_classifier(tiny_bert, id2label, "TFAutoModelForTokenClassification")
    kernel, bias = model.classifier.get_weights()
    model.classifier.set_weights([kernel * 0, np.array([0, 9, 0, 0, 0], dtype=bias.dtype)])
    model.save_pretrained(str(run_dir))
    load_tokenizer(tiny_bert).save_pretrained(str(run_dir))
    write_json(run_dir / "labels.json", {"id2label": {str(i): t for i, t in id2label.items()}})
    cfg = tiny_config_dict(tmp_path, tiny_bert)
    cfg["task"] = "token-classification"
    return load_config(write_config(tmp_path / "c.yaml", cfg)), run_dir


def test_type_a_sentence_and_see_its_entities_marked(browser, ner_run) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    config, run_dir = ner_run
    wait = WebDriverWait(browser, 60)
    with live_server(run_service(config, run_dir)) as url:
        browser.get(url)
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "ready"))
        browser.find_element(By.ID, "submit").click()  # nothing typed yet
        wait.until(ec.visibility_of_element_located((By.ID, "error")))
        text = "😀 친구가 선물을 줬어!"
        box = browser.find_element(By.ID, "text")
        box.send_keys("친구가")  # typed; the emoji (outside the BMP, which ChromeDriver cannot
        browser.execute_script("arguments[0].value = arguments[1]", box, text)  # type) is set
        browser.find_element(By.ID, "submit").click()
        wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#marked mark.ent")))
        marks = browser.find_elements(By.CSS_SELECTOR, "#marked mark.ent")
        rows = browser.find_elements(By.CSS_SELECTOR, "#entities tbody tr")
        assert len(marks) == len(rows) >= 2
        assert all(m.get_attribute("data-type") == "LC" for m in marks)
        # the marked sentence reads as typed, each mark's text is its table row's word
        words = [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows]
        shown = [
            browser.execute_script("return arguments[0].firstChild.textContent", m) for m in marks
        ]
        assert shown == words and "".join(words) in text.replace(" ", "")
        plain = browser.execute_script(
            "const p = document.getElementById('marked').cloneNode(true);"
            "p.querySelectorAll('.tag').forEach((t) => t.remove()); return p.textContent;"
        )
        assert plain == text
        assert not browser.find_element(By.ID, "error").is_displayed()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))
