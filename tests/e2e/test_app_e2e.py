"""The real app in headless Chromium: run from the sidebar and watch the charts move,
stop, analyse, compare, open a share link elsewhere, two sessions at once.

Screenshots of each page go to docs/screenshots/. Figures measured on the way (start
time, first render, refresh rate) are printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

import cachesim

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.e2e

SIDEBAR = '[data-testid="stSidebar"]'
PROGRESS = re.compile(r"t = ([0-9.]+) of ([0-9.]+) simulated s · (\w+)")
#: The live panel's footer at a speed: drawn with the progress bar in one refresh (the
#: header's "Speed N× real time" comes first, with the click's rerun, before the panel).
FOOTER_SPEED = "text=/speed {} · charts show/"
WAIT_S = float(os.environ.get("CACHESIM_E2E_WAIT_S", "180"))  # as conftest.WAIT_MS: a bound, not a wait


# -- helpers ----------------------------------------------------------------------------


def open_app(page, url: str, path: str = "/") -> float:
    started = time.perf_counter()
    page.goto(url + path)
    page.wait_for_selector(f"{SIDEBAR} >> text=Run simulation")
    return time.perf_counter() - started


def go(page, label: str) -> None:
    """Change page through the sidebar (the same browser session)."""
    page.locator(SIDEBAR).get_by_role("link", name=label, exact=True).click()


def set_number(page, label: str, value: str) -> None:
    field = page.locator(f'{SIDEBAR} input[aria-label="{label}"]')
    field.fill(value)
    field.press("Enter")
    page.wait_for_function(
        '([label, value]) => document.querySelector(`input[aria-label="${label}"]`).value === value', arg=[label, value]
    )


def pick_scenario(page, name: str) -> None:
    page.locator(f"{SIDEBAR} [data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name=name.replace("_", " "), exact=True).click()
    page.wait_for_url(re.compile(f"scenario={name}"))


def progress(page) -> tuple[float, float, str]:
    text = page.locator('[data-testid="stProgress"]').first.inner_text()
    m = PROGRESS.search(text)
    assert m, text
    return float(m.group(1)), float(m.group(2)), m.group(3)


def wait_progress(page, at_least: float, timeout_s: float = WAIT_S) -> tuple[float, float, str]:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        t, duration, status = progress(page)
        if t >= at_least or status != "running":
            return t, duration, status
        time.sleep(0.1)
    raise AssertionError(f"the run did not reach t={at_least} within {timeout_s} s")


def stop_run(page, timeout_s: float = WAIT_S) -> None:
    """Click Stop and wait for the page to say the run stopped ("Stopped at", so it was
    stopped, not finished). Waits on what the page shows, never on a fixed time:
    - On a host loaded far past its cores the browser can be half a minute behind the
      server: the click has stopped the run (the server log says "stopped by the Stop
      button") while the page has not drawn "Stopped at" yet, and Stop may already be
      drawn disabled. So after a click the helper waits for the page to say so, however
      late, and never clicks a disabled Stop.
    - The click itself can be lost (a dropped connection takes it along): while the page
      still shows the run going, Stop enabled, and no answer came for a while, it clicks
      again, as a user would."""
    deadline = time.perf_counter() + timeout_s
    stop = page.get_by_role("button", name="Stop", exact=True)
    stopped = page.get_by_text("Stopped at", exact=False)
    while not stopped.count():
        if time.perf_counter() > deadline:
            raise AssertionError(f"the page never said the run stopped; the page: {page_state(page)}")
        if stop.count() and stop.is_enabled():
            try:
                stop.click(timeout=10_000)
            except Exception:  # noqa: BLE001 - redrawn or disabled meanwhile: look again
                continue
        try:  # the answer, or Stop still enabled after a while (the click was lost)
            stopped.first.wait_for(state="attached", timeout=30_000)
        except Exception:  # noqa: BLE001 - look again (the deadline bounds the loop)
            pass


def page_state(page) -> str:
    """What the page says (its main text, and a screenshot kept beside the test's temp
    files), for a failure's message."""
    import tempfile

    shot = Path(tempfile.gettempdir()) / f"cachesim_e2e_{os.getpid()}_{time.time_ns()}.png"
    try:
        page.screenshot(path=str(shot), full_page=True)
    except Exception:  # noqa: BLE001 - a diagnostic
        shot = None
    text = page.locator("[data-testid='stMain']").inner_text()[:3000]
    return f"screenshot {shot}; text: {text!r}"


def hit_ratio_chart(page) -> bytes:
    """A picture of the hit-ratio chart as it is now (a clip of the page: an element
    screenshot would wait for the chart to stop changing)."""
    box = page.locator('[data-testid="stVegaLiteChart"]').first.bounding_box()
    return page.screenshot(clip=box)


def wait_run_shown(page, run_id: str) -> None:
    """Wait until the analysis page shows ``run_id`` in its run picker."""
    page.wait_for_function(
        "id => { const el = document.querySelector('input[aria-label=\"Run\"]'); return el && el.value === id; }",
        arg=run_id,
    )


def wait_chart_moves(page, before: bytes, timeout_s: float = WAIT_S) -> bytes:
    """The hit-ratio chart's picture once it differs from ``before`` (or the last one,
    once ``timeout_s`` has passed)."""
    deadline = time.perf_counter() + timeout_s
    now = hit_ratio_chart(page)
    while now == before and time.perf_counter() < deadline:
        time.sleep(0.2)
        now = hit_ratio_chart(page)
    return now


def wait_charts(page, n: int) -> None:
    """Wait until at least ``n`` charts of the visible tab are drawn (SVG or canvas)."""
    page.wait_for_function(
        """n => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
                 .filter(el => el.offsetParent !== null && el.querySelector('svg, canvas')).length >= n""",
        arg=n,
    )
    time.sleep(0.5)  # let the last one finish drawing


def refresh_rate(page) -> float:
    text = page.locator("text=refreshes/s").first.inner_text()
    return float(text.split(" refreshes/s")[0])


def stop_click(page) -> None:
    """Click Stop and print how long until the run stopped (the worker's end, server clock:
    the same machine) and until the page said so (the browser's rendering included)."""
    clicked = page.evaluate("""() => {
        const b = [...document.querySelectorAll('button')].find(b => b.innerText.trim().endsWith('Stop'));
        window.__stopClicked = performance.now(); const at = Date.now(); b.click(); return at; }""")
    page.wait_for_function("() => document.body.innerText.includes('Stopped at')", polling=10)
    shown_ms = page.evaluate("() => performance.now() - window.__stopClicked")
    stamp = page.locator("text=The run stopped at").first.inner_text()
    h, m, sec = re.search(r"(\d\d):(\d\d):(\d\d\.\d{3}) UTC", stamp).groups()
    midnight = clicked // 86_400_000 * 86_400_000
    ended = midnight + (int(h) * 3600 + int(m) * 60 + float(sec)) * 1000
    print(
        f"[e2e] Stop: the run stopped {ended - clicked:.0f} ms after the click in the browser; "
        f"'Stopped at' was shown after {shown_ms:.0f} ms (the browser drawing the rerun)"
    )


# -- tests ------------------------------------------------------------------------------


def test_home_and_configure(app_server, page, screenshots):
    first_render = open_app(page, app_server)  # the server's first session imports the app
    page.wait_for_selector("text=Start from a scenario")
    page.wait_for_selector("svg >> text=load balancer")  # the diagram is drawn
    expect(page.locator(f'{SIDEBAR} input[aria-label="Nodes"]')).to_have_value("4")  # the sidebar has its values
    warm_render = open_app(page, app_server)  # a new session of a warm server
    print(
        f"\n[e2e] server healthy after {os.environ.get('CACHESIM_E2E_HEALTH_S')} s; home page rendered "
        f"{first_render:.2f} s after navigation (first session), {warm_render:.2f} s (next session)"
    )
    page.screenshot(path=str(screenshots / "home.png"))
    card = cachesim.list_scenarios().index("node_failure")  # the cards follow the scenario list
    page.locator("[data-testid='stButton'] button", has_text="Configure").nth(card).click()
    page.wait_for_selector("text=Valid config based on the node failure scenario")
    page.get_by_role("tab", name="Chaos").click()
    wait_charts(page, 1)
    page.screenshot(path=str(screenshots / "configure.png"))
    assert "scenario=node_failure" in page.url


def test_run_watch_stop_analyse_compare(app_server, new_page, screenshots):
    page = new_page(1500, 1400)  # tall enough for all four charts in the screenshots
    open_app(page, app_server)
    pick_scenario(page, "node_failure")
    set_number(page, "Rate (req/s)", "600")
    set_number(page, "Duration (s)", "1500")  # 900,000 requests, 90,000 snapshot rows: within the demo budget
    page.locator(SIDEBAR).get_by_role("button", name="Run simulation").click()
    page.wait_for_selector("text=Live log")
    page.get_by_role("radio", name="10×", exact=True).click()  # the run can never end before Stop
    page.wait_for_selector(FOOTER_SPEED.format("10×"))
    t1, duration, status = wait_progress(page, 3.0)
    assert duration == 1500.0 and status == "running"
    wait_charts(page, 4)
    chart1 = hit_ratio_chart(page)
    t2, _, _ = wait_progress(page, t1 + 4.0)
    chart2 = wait_chart_moves(page, chart1)  # a busy browser may draw late: wait for it, bounded
    assert t2 > t1 and chart1 != chart2  # the chart moved between two moments of the run
    wait_progress(page, max(22.0, t2 + 1.0))  # past the kill (10 s) and the restart (20 s)
    print(
        f"\n[e2e] live page: {refresh_rate(page):.1f} chart refreshes per wall second at t = {progress(page)[0]:.1f} s"
    )
    page.screenshot(path=str(screenshots / "live_run.png"))
    page.get_by_role("radio", name="1×", exact=True).click()  # slow down to real time
    page.wait_for_selector(FOOTER_SPEED.format("1×"))
    slow_t, wall = progress(page)[0], time.perf_counter()
    later = wait_progress(page, slow_t + 0.5)[0]
    # at 1 x real time the run is never ahead of the wall clock (a busy machine only lags)
    assert later - slow_t <= (time.perf_counter() - wall) * 1.0 + 1.0
    stop_click(page)
    stopped_t, _, status = progress(page)
    assert status == "stopped" and stopped_t < 1500.0
    go(page, "Analysis")
    wait_run_shown(page, "run-1 · node_failure")
    page.wait_for_selector(f"text=stopped at t = {stopped_t:.1f} s")
    page.wait_for_selector("[data-testid='stMetric'] >> text=Hit ratio")
    wait_charts(page, 1)  # one stacked chart: the zoom strip and the four charts that follow it
    page.screenshot(path=str(screenshots / "analysis.png"))
    # a second run to compare with: the baseline for 10 s, run to the end
    pick_scenario(page, "baseline")
    set_number(page, "Duration (s)", "10")
    page.locator(SIDEBAR).get_by_role("button", name="Run simulation").click()
    try:
        page.wait_for_selector("text=is kept for analysis")
    except Exception:
        print("DEBUG", page.locator("body").inner_text()[:6000])
        raise
    go(page, "Analysis")
    page.get_by_role("tab", name="Compare (2)").click()
    page.wait_for_selector("text=What differs in the configs")
    wait_charts(page, 4)
    page.screenshot(path=str(screenshots / "compare.png"))


def test_share_link_restores_the_config_in_another_context(app_server, new_page):
    a = new_page()
    open_app(a, app_server)
    pick_scenario(a, "hot_key")
    set_number(a, "Nodes", "7")
    set_number(a, "Zipf alpha", "1.15")
    a.wait_for_url(re.compile(r"cluster\.nodes=7"))
    a.wait_for_url(re.compile(r"zipf_alpha=1\.15"))
    link = a.url
    b = new_page()  # another browser context: another Streamlit session
    b.goto(link)
    b.wait_for_selector(f"{SIDEBAR} >> text=Config loaded from the link.")
    expect(b.locator(f'{SIDEBAR} input[aria-label="Nodes"]')).to_have_value("7")
    expect(b.locator(f'{SIDEBAR} input[aria-label="Zipf alpha"]')).to_have_value("1.15")
    expect(b.locator(f'{SIDEBAR} input[aria-label="Capacity"]')).to_have_value("200")  # the rest: hot_key's
    go(b, "Configure")
    b.wait_for_selector("text=Valid config based on the hot key scenario (modified)")
    expect(b.locator('[data-testid="stMain"] input[aria-label="Nodes"]')).to_have_value("7")


def test_two_sessions_run_different_simulations_at_once(app_server, new_page):
    a, b = new_page(1300, 900), new_page(1300, 900)
    # 1,500 simulated s at 5x (300 wall s): neither run can end before its Stop
    open_app(a, app_server, "/?scenario=baseline&duration_s=1500&workload.rate_rps=600")
    open_app(b, app_server, "/?scenario=write_heavy&duration_s=1500&workload.rate_rps=600")
    for page in (a, b):
        page.locator(SIDEBAR).get_by_role("button", name="Run simulation").click()
    for page in (a, b):
        page.wait_for_selector("text=Live log")
        page.get_by_role("radio", name="5×", exact=True).click()  # neither can end before its Stop
    for page in (a, b):
        page.wait_for_selector(FOOTER_SPEED.format("5×"))
    ta, tb = wait_progress(a, 2.0)[0], wait_progress(b, 2.0)[0]
    ta2, tb2 = wait_progress(a, ta + 2.0)[0], wait_progress(b, tb + 2.0)[0]
    assert ta2 > ta and tb2 > tb  # both advance at the same time
    assert "write_heavy" not in a.locator("[data-testid='stMain']").inner_text()
    assert "baseline" not in b.locator("[data-testid='stCaptionContainer']").first.inner_text()
    stop_run(a)
    tb3 = wait_progress(b, tb2 + 1.0)[0]
    assert tb3 > tb2 and progress(b)[2] == "running", (tb2, progress(b), b.locator("body").inner_text()[:3000])
    go(a, "Analysis")
    wait_run_shown(a, "run-1 · baseline")
    stop_run(b)
    go(b, "Analysis")
    wait_run_shown(b, "run-1 · write_heavy")
    for page, other in ((a, "write_heavy"), (b, "baseline")):  # each session has its own run only
        page.locator('input[aria-label="Run"]').click()
        options = page.get_by_role("option").all_inner_texts()
        assert len(options) == 1 and other not in options[0]
        page.keyboard.press("Escape")


def test_a_link_cannot_read_server_files_or_render_user_markdown(app_server, new_page):
    page = new_page()
    open_app(page, app_server, "/?workload.trace=.streamlit/secrets.toml")
    page.wait_for_selector(f"{SIDEBAR} >> text=server paths are not accepted")
    text = page.locator("body").inner_text()
    assert "Traceback" not in text and "OPENAI" not in text and "secrets.toml" not in text
    image = "![x](https://example.invalid/pixel.png) [click](https://example.invalid/)"
    open_app(page, app_server, "/?scenario=baseline&name=" + image.replace(" ", "%20") + "&duration_s=10")
    page.wait_for_selector(f"{SIDEBAR} >> text=Config loaded from the link.")
    go(page, "Live run")
    page.wait_for_selector("text=Ready:")
    assert page.locator("img[src^='https://example.invalid']").count() == 0
    assert page.locator("a[href^='https://example.invalid']").count() == 0  # nav links carry the query
    page.wait_for_selector("text=pixel.png")  # shown as the text it is
