"""The HTML audit report in a real browser: Debian's headless Chromium, driven by Selenium through chromedriver.

JavaScript is enabled, as in any browser an auditor opens the file in: the sections and figures are read
from the DOM, and model output, policy messages and incident summaries planted with a ``<script>`` and an
``onerror`` handler must show as text and never run.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.clock import FixedClock

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
MODEL = "acme-support-assistant"
SCRIPT = "<script>window.__pwned=1</script>"
IMAGE = '<img src=x onerror="window.__pwned=2">'
HEADINGS = ["1. Policy catalogue",
            "2. Traceability: incidents, their lessons and the gate decisions that used them",
            "3. Incidents with no captured lesson", "4. Policies with no examples or uncovered rules", "5. Waivers",
            "6. Release history and the decision log", "7. Policy changes since the last promoted release"]

pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium,"
                                       " /usr/bin/chromedriver); .ci/run installs them")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report of the shipped repository with hostile text planted in an incident summary, a policy's
    message (quoted in the blocked release's history) and a waiver's reason; 1.1.0 promoted, 1.2.1 blocked."""
    root = tmp_path_factory.mktemp("browser")
    for name in ("policies", "evals", "incidents", "examples"):
        shutil.copytree(ROOT / name, root / name)
    incident = root / "incidents/INC-2026-0007.yaml"
    data = yaml.safe_load(incident.read_text())
    data["summary"] = f"Latency {SCRIPT} then {IMAGE} end"
    incident.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    policy = root / "policies/fairness/refusal-parity.yaml"
    policy.write_text(policy.read_text().replace("message: A legitimate support request was refused.",
                                                 f"message: 'Refused {IMAGE} {SCRIPT}'"))
    waivers = root / "policies/waivers.yaml"
    waivers.write_text(waivers.read_text().replace("reason: >", f"reason: >\n      {SCRIPT}"))
    clock = FixedClock("2026-12-01T09:00:00Z", step=dt.timedelta(seconds=1))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GITHUB_ACTOR", "ci-bot")
        for name in ("HARNESS_SIGNING_KEY", "HARNESS_SIGNING_KEY_FILE"):
            mp.delenv(name, raising=False)
        for version, code in (("1.1.0", 0), ("1.2.1", 1)):
            assert main(["gate", "--outputs", f"examples/outputs/acme-support-{version}.jsonl", "--baseline",
                         "examples/outputs/acme-support-1.0.0.jsonl", "--model", MODEL, "--model-version", version,
                         "--today", "2026-11-27", "--backdate", "--promote"], clock=clock) == code
        assert main(["audit", "--format", "html", "--output", "report.html"],
                    clock=FixedClock("2026-12-05T09:30:00Z")) == 0
    return root / "report.html"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # The profile, chromium's temporary files (its singleton socket folder) and its caches stay in the
    # test's folder: nothing is left in /tmp or the home folder.
    scratch = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", f"--user-data-dir={scratch / 'profile'}"):
        options.add_argument(argument)
    env = {**os.environ, "TMPDIR": str(scratch), "HOME": str(scratch / "home"),
           "XDG_CACHE_HOME": str(scratch / "cache"), "XDG_CONFIG_HOME": str(scratch / "config")}
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER), env=env), options=options)
    yield driver
    driver.quit()


def _open(browser, path: Path) -> None:
    browser.get(path.resolve().as_uri())
    assert browser.execute_script("return document.readyState") == "complete"


def test_the_sections_and_figures_are_in_the_page(page, browser):
    from selenium.webdriver.common.by import By

    _open(browser, page)
    assert browser.title == "Audit report 2026-12-05T09:30:00.000Z"
    assert [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section > h2")] == HEADINGS

    def figure(key: str) -> str:
        return str(browser.find_element(By.CSS_SELECTOR, f'dd[data-key="{key}"]').text)

    assert (figure("incidents"), figure("incidents_without_lesson"), figure("gate_decisions"), figure("promotions"),
            figure("chain"), figure("waivers_active")) == ("7", "1", "2", "1", "intact", "1")
    chain = browser.find_element(By.ID, "chain")
    assert chain.get_attribute("data-status") == "intact"
    assert chain.text == ("Hash chain intact: 7 entries in audit/decisions.jsonl. Signatures: intact chain, unsigned"
                          " (7 entries; no release key at policies/release-key.pub).")
    history = browser.find_elements(By.CSS_SELECTOR, "table.history tbody tr")
    assert [row.find_elements(By.TAG_NAME, "td")[6].text for row in history] == ["promote", "promote", "block"]
    uncaptured = browser.find_elements(By.CSS_SELECTOR, "table.uncaptured tbody tr td")
    assert uncaptured[0].text == "INC-2026-0007"


def test_planted_script_and_handler_show_as_text_and_never_run(page, browser):
    from selenium.webdriver.common.by import By

    _open(browser, page)
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    assert browser.execute_script("return document.scripts.length + document.images.length") == 0
    summary = browser.find_elements(By.CSS_SELECTOR, "table.uncaptured tbody tr td")[-1].text
    assert summary == f"Latency {SCRIPT} then {IMAGE} end"
    history = browser.find_element(By.CSS_SELECTOR, "table.history").text
    assert f"Refused {IMAGE} {SCRIPT}" in history
    assert SCRIPT in browser.find_element(By.CSS_SELECTOR, "table.waivers").text


def test_escaping_alone_keeps_the_page_inert_without_its_content_security_policy(page, browser, tmp_path):
    """The page's CSP would stop a script that got in; the escaping must stop it getting in at all."""
    html = page.read_text()
    policy = next(line for line in html.splitlines() if "Content-Security-Policy" in line)
    bare = tmp_path / "no-csp.html"
    bare.write_text(html.replace(policy, ""))
    _open(browser, bare)
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    control = tmp_path / "control.html"  # the same browser does run a planted script that is not escaped
    control.write_text(html.replace(policy, "").replace("<h1>", SCRIPT + "<h1>", 1))
    _open(browser, control)
    assert browser.execute_script("return window.__pwned") == 1
