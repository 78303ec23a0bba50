"""End to end in a real headless Chromium (Debian's `chromium`, driven by Playwright).

Load the page → check the embedded pair → draw the similarity heatmaps (a Plotly plot in the
DOM) → locate → run a short LaTen transfer → stream the four models side by side → the runs.
A screenshot of each step goes to test-artifacts/ (the good ones are copied to docs/screenshots/
for the README by hand, after looking at them).
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does "
                "it); Playwright's downloaded browsers do not run here", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt")

from tests.test_app import LabServer, examples_dir, micro_family  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # PKT_SCREENSHOT_FAMILY=assets/models takes the README's screenshots on the real family.
    family = os.environ.get("PKT_SCREENSHOT_FAMILY")
    family = Path(family).resolve() if family else micro_family(tmp_path_factory)
    with LabServer(family, tmp_path_factory.mktemp("browser"),
                   examples_dir(tmp_path_factory, family)) as srv:
        yield srv


@pytest.fixture(scope="module")
def page(server):
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(server.url)
        page.errors = errors  # type: ignore[attr-defined]
        yield page
        context.close()
        browser.close()


def shot(page, name: str) -> None:
    page.wait_for_timeout(400)  # let Plotly finish its transition
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def plots_in(page, selector: str) -> int:
    return page.locator(f"{selector} .js-plotly-plot").count()


def settled_texts(page, selectors: list[str], quiet_s: float = 1.5, timeout_s: float = 90) -> list[str]:
    """Wait until every textarea is non-empty and nothing changed for `quiet_s` seconds."""
    deadline, last, since = time.time() + timeout_s, None, time.time()
    while time.time() < deadline:
        now = [page.locator(f"{s} textarea").input_value() for s in selectors]
        if now != last:
            last, since = now, time.time()
        elif all(t.strip() for t in now) and time.time() - since >= quiet_s:
            return now
        page.wait_for_timeout(250)
    raise AssertionError(f"outputs did not settle: {last}")


def test_the_lab_in_a_browser(page, server):
    # 1. the page loads with the embedded pair checked (page_load fills the cards)
    page.wait_for_selector("#teacher-card :text('Teacher')")
    assert server.teacher in page.locator("#teacher-card").inner_text()
    page.locator("#check-pair").click()
    page.wait_for_selector("#verdict :text('compatible')")
    assert "LaTen" in page.locator("#verdict").inner_text()
    shot(page, "01-pair")

    # 2. incompatibility heatmaps render as a Plotly plot (reached from the Learn tab's pointer)
    open_tab(page, "Learn")
    page.get_by_role("button", name="Open the heatmaps").click()
    page.locator("#heatmaps-btn").click()
    page.wait_for_selector("#heatmaps .js-plotly-plot")
    assert plots_in(page, "#heatmaps") == 1
    assert page.locator("#heatmaps .js-plotly-plot .hm, #heatmaps .js-plotly-plot image").count() > 0
    shot(page, "02-heatmaps")
    # the shipped incompatibility curve is on the same tab at once (no computation)
    page.locator("#curve").scroll_into_view_if_needed()
    assert plots_in(page, "#curve") == 1
    assert "shuffled control" in page.locator("#curve-notes").inner_text()
    page.locator("#curve").screenshot(path=str(ARTIFACTS / "07-curve.png"))

    # 3. locate: layer curves and neuron maps
    open_tab(page, "Locate")
    page.locator("#locate-btn").click()
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 6")
    shot(page, "05-locate")

    # 4. a short LaTen transfer with a live loss plot, saved as a run
    open_tab(page, "Transfer")
    page.get_by_text("Advanced — settings and their defaults").click()
    steps = page.locator("#laten-steps input")
    steps.fill("2")
    steps.press("Tab")
    page.locator("#run-transfer").click()
    page.wait_for_selector("#transfer-status :text('finished')")
    assert "saved as" in page.locator("#transfer-status").inner_text()
    result = page.locator("#transfer-result").inner_text()
    assert "base student" in result and "outputs that changed" in result  # the effect panel
    page.wait_for_selector("#transfer-loss .js-plotly-plot")
    shot(page, "03-transfer")

    # 5. side-by-side streamed outputs, all four filled in
    open_tab(page, "Compare")
    page.locator("#compare-btn").click()
    texts = settled_texts(page, [f"#out-{i}" for i in range(4)])
    assert all(t.strip() for t in texts)
    page.wait_for_selector("#likelihoods .js-plotly-plot")  # the default item is multiple choice
    assert "likelihood pick" in page.locator("#likelihood-notes").inner_text()
    shot(page, "04-compare")

    # 6. the runs, with the new one
    open_tab(page, "Runs")
    page.get_by_role("button", name="Refresh").click()
    page.wait_for_function(
        "document.querySelector('#runs-table').innerText.includes('this session')")
    shot(page, "06-runs")
    assert not page.errors, page.errors  # type: ignore[attr-defined]
