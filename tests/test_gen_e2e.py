"""The generation page as a person uses it, in headless Chromium: prompt, sliders, result.

make e2e      # installs chromium if missing, then runs the browser tests
"""

from __future__ import annotations

from pathlib import Path

from pipeline.model.loading import ModelRef
from tests.live_server import live_server
from tests.test_e2e_browser import BROWSER_MARKS, browser  # noqa: F401  (fixture)
from tests.test_gen_task import gen_config, tiny_gpt2  # noqa: F401  (fixture)

SCREENSHOT = Path(__file__).resolve().parent.parent / "reports" / "e2e" / "serve-generate.png"

pytestmark = BROWSER_MARKS


def test_type_a_prompt_move_a_slider_and_read_the_continuation(
    browser,  # noqa: F811
    tiny_gpt2,  # noqa: F811
    tmp_path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from pipeline.serve.app import create_app
    from pipeline.tasks.generation.serve import GenerationServer

    service = GenerationServer(gen_config(tmp_path), ModelRef(name="tiny", run_dir=tiny_gpt2))
    wait = WebDriverWait(browser, 60)
    with live_server(service, app=create_app(service)) as url:
        browser.get(url)
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "ready"))
        slider = browser.find_element(By.ID, "max_new_tokens")
        assert slider.get_attribute("max") == "32"  # the server's cap, read from /info
        browser.find_element(By.ID, "submit").click()  # the prompt is still empty
        wait.until(ec.visibility_of_element_located((By.ID, "error")))
        assert "prompt is empty" in browser.find_element(By.ID, "error").text
        browser.find_element(By.ID, "prompt").send_keys("[기쁨] 오늘")
        slider.send_keys(Keys.HOME)  # max_new_tokens -> 1 ... then up to 5
        for _ in range(4):
            slider.send_keys(Keys.ARROW_RIGHT)
        assert (
            browser.find_element(By.CSS_SELECTOR, 'output[data-for="max_new_tokens"]').text == "5"
        )
        browser.find_element(By.ID, "submit").click()
        wait.until(ec.visibility_of_element_located((By.ID, "result")))
        # the continuation streams in: read it once the page has the whole answer
        wait.until(lambda b: not b.find_element(By.ID, "submit").get_attribute("disabled"))
        first = browser.find_element(By.ID, "result").text
        assert (
            first.startswith("[기쁨] 오늘")
            and not browser.find_element(By.ID, "error").is_displayed()
        )
        browser.find_element(By.ID, "submit").click()  # same seed, same text
        wait.until(lambda b: not b.find_element(By.ID, "submit").get_attribute("disabled"))
        assert browser.find_element(By.ID, "result").text == first
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))
