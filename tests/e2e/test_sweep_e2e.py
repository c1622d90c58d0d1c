"""The Sweep page in headless Chromium: a share link opens a config and a sweep's
definition, Run sweep runs it on local worker processes off the page thread, the
progress fragment gives way to the chart with CI bands and Che's reference."""

from __future__ import annotations

import re

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.e2e

LINK = (
    "/Sweep?scenario=baseline&duration_s=3&warmup_s=1.5&cluster.nodes=1&workload.write_ratio=0"
    "&sweep.x=cluster.capacity&sweep.xv=100%3A1600%3A*4&sweep.reps=3&sweep.metric=hit_ratio"
)


def test_a_sweep_from_a_link_runs_and_draws_its_chart(page, app_server, screenshots):
    page.goto(app_server + LINK)
    expect(page.get_by_text("Sweep definition loaded from the link.")).to_be_visible()
    expect(page.locator('input[aria-label="Values"]')).to_have_value("100:1600:*4")
    # the sweep's parameters left the address bar; the config's stay for the sidebar's link
    page.wait_for_url(re.compile(r"cluster\.nodes=1"))
    assert "sweep." not in page.url
    page.get_by_role("button", name="Run sweep").click()
    expect(page.get_by_text(re.compile(r"Finished: 9 runs on processes"))).to_be_visible()
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    expect(chart).to_be_visible()
    expect(page.get_by_text("Dashed: Che approximation (LRU), where theory applies.")).to_be_visible()
    code = page.locator('[data-testid="stCode"]').first.inner_text()
    assert "sweep.x=cluster.capacity" in code and "sweep.reps=3" in code and "/Sweep?" in code
    page.wait_for_timeout(500)  # let the chart's transition settle for the picture (not a synchronisation)
    page.screenshot(path=str(screenshots / "sweep.png"), full_page=True)


def test_typed_values_in_an_error_stay_plain_text(page, app_server):
    page.goto(app_server + "/Sweep")
    field = page.locator('input[aria-label="Values"]')
    field.fill("[x](http://evil.example),www.b.example,**b**")
    field.press("Enter")
    page.get_by_role("button", name="Run sweep").click()
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="cluster.capacity")
    expect(alert).to_be_visible()
    assert "[x](http://evil.example)" in alert.inner_text().replace("\u2060", "")  # less the word joiner
    assert alert.locator("a").count() == 0 and alert.locator("strong").count() == 0
