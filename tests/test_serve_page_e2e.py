"""The generation page behind an API key, in headless Chromium: it asks for the key once,
keeps it in the tab only, and shows the tokens as they stream in.

make e2e      # installs chromium if missing, then runs the browser tests
"""

from __future__ import annotations

from pathlib import Path

from pipeline.model.loading import ModelRef
from pipeline.serve.auth import hash_key
from tests.conftest import write_config
from tests.live_server import live_server
from tests.test_e2e_browser import BROWSER_MARKS, browser  # noqa: F401  (fixture)
from tests.test_gen_task import gen_config, tiny_gpt2  # noqa: F401  (fixture)

pytestmark = BROWSER_MARKS

KEY = "page-test-key-0123456789"

# Records every text the result shows, so the test sees it grow a token at a time.
WATCH = """
window.seen = [];
new MutationObserver(() => window.seen.push(document.getElementById("result").textContent))
  .observe(document.getElementById("result"),
           {childList: true, characterData: true, subtree: true});
"""


def test_the_page_asks_for_the_key_once_and_streams_the_tokens(
    browser,  # noqa: F811
    tiny_gpt2,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from pipeline.config import load_config
    from pipeline.serve.app import create_app
    from pipeline.tasks.generation.serve import GenerationServer

    (tmp_path / "keys.txt").write_text(hash_key(KEY) + " page\n", encoding="utf-8")
    cfg = gen_config(tmp_path).to_dict()
    cfg["serve"]["api_keys_file"] = "keys.txt"
    cfg = load_config(write_config(tmp_path / "keyed.yaml", cfg))
    service = GenerationServer(cfg, ModelRef(name="tiny", run_dir=tiny_gpt2))
    wait = WebDriverWait(browser, 60)
    with live_server(service, app=create_app(service)) as url:
        browser.get(url)
        wait.until(ec.alert_is_present())  # /info answered 401: the page asks
        alert = browser.switch_to.alert
        alert.send_keys(KEY)
        alert.accept()
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "ready"))
        browser.execute_script(WATCH)
        browser.find_element(By.ID, "prompt").send_keys("[기쁨] 오늘")
        browser.find_element(By.ID, "submit").click()  # no second question: the tab has it
        wait.until(lambda b: not b.find_element(By.ID, "submit").get_attribute("disabled"))
        assert not ec.alert_is_present()(browser)
        assert not browser.find_element(By.ID, "error").is_displayed()
        result = browser.find_element(By.ID, "result").text
        seen = browser.execute_script("return window.seen")
        stored = browser.execute_script(
            "return [sessionStorage.getItem('pipeline.apiKey'), localStorage.length]"
        )
    assert result.startswith("[기쁨] 오늘") and len(result) > len("[기쁨] 오늘")
    grew = [t for a, t in zip(seen, seen[1:], strict=False) if len(t) > len(a)]
    assert len(grew) >= 3, seen  # the text grew token by token, not at once
    assert stored == [KEY, 0]  # in this tab's sessionStorage only
