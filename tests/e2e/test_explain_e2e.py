"""The explaining parts in headless Chromium (issue 12): a built-in scenario watched at
the default speed, its narration, an animated capture of it (docs/live_run.gif), the
Analysis zoom, and the speed control on a 390 px screen.

Every wait is on a condition (the progress text, a caption, a chart drawn); frames of
the capture are taken as the run's simulated time moves on, not on a timer.
"""

from __future__ import annotations

import base64
import io
import time

import pytest

pytestmark = pytest.mark.e2e

from conftest import ROOT  # noqa: E402
from test_app_e2e import SIDEBAR, go, open_app, progress, wait_charts, wait_run_shown  # noqa: E402

Image = pytest.importorskip("PIL.Image")

GIF = ROOT / "docs" / "live_run.gif"
FRAME_WIDTH = 900
MAX_FRAMES = 60


class Screencast:
    """Frames from Chromium's compositor as it paints (CDP ``Page.startScreencast``):
    unlike a screenshot, taking one never waits for the page to settle, so the live
    run is captured as it goes."""

    def __init__(self, page, width: int = FRAME_WIDTH) -> None:
        self.frames: list[bytes] = []
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.on("Page.screencastFrame", self._frame)
        self.cdp.send("Page.startScreencast", {"format": "jpeg", "quality": 70, "maxWidth": width, "everyNthFrame": 1})

    def _frame(self, event: dict) -> None:
        self.frames.append(base64.b64decode(event["data"]))
        self.cdp.send("Page.screencastFrameAck", {"sessionId": event["sessionId"]})

    def stop(self, keep: int = MAX_FRAMES) -> list:
        self.cdp.send("Page.stopScreencast")
        step = max(1, len(self.frames) // keep)
        return [Image.open(io.BytesIO(f)).convert("RGB") for f in self.frames[::step]]


def _save_gif(frames: list, path) -> int:
    palette = [f.quantize(colors=128, method=Image.Quantize.MEDIANCUT) for f in frames]
    palette[0].save(path, save_all=True, append_images=palette[1:], duration=400, loop=0, optimize=True)
    return path.stat().st_size


def test_watch_a_scenario_narrated_then_zoom(app_server, new_page, screenshots):
    page = new_page(1400, 1700)  # tall enough for the charts under the header in the capture
    open_app(page, app_server, "/?scenario=node_failure")
    cast = Screencast(page)
    page.locator(SIDEBAR).get_by_role("button", name="Run simulation").click()
    page.wait_for_selector("text=Live log")
    page.wait_for_selector("text=1.5× real time")  # the default speed says what it means
    started = time.perf_counter()
    page.wait_for_function("() => /· (finished|stopped)/.test(document.body.innerText)", timeout=120_000, polling=200)
    _, duration, status = progress(page)
    frames = cast.stop()
    wall = time.perf_counter() - started
    assert duration == 30.0 and status == "finished" and len(frames) >= 5
    print(f"\n[e2e] node_failure at the default speed: {wall:.1f} s of wall time for 30 simulated s")
    # (the 15-30 s is computed in tests/ui/test_app_explain.py; here the page may appear late on a busy machine)
    size = _save_gif(frames, GIF)
    print(f"[e2e] {GIF.relative_to(ROOT)}: {len(frames)} frames, {size / 1e6:.1f} MB")
    # the narration of the kill stays in the log (and was the caption while it was the latest)
    page.wait_for_selector("text=/node-2 killed at t=10\\.0 s; its cache is lost/")
    page.screenshot(path=str(screenshots / "live_run_narrated.png"))

    go(page, "Analysis")
    wait_run_shown(page, "run-1 · node_failure")
    wait_charts(page, 1)
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    box = chart.bounding_box()
    before = page.screenshot(clip=box)
    # drag across the strip on top (its plot starts ~35 px below the chart's top): t ~ 8..14 s
    y = box["y"] + 55
    x0, x1 = box["x"] + box["width"] * 0.30, box["x"] + box["width"] * 0.48
    page.mouse.move(x0, y)
    page.mouse.down()
    page.mouse.move(x1, y, steps=8)
    page.mouse.up()
    deadline = time.perf_counter() + 20
    while page.screenshot(clip=box) == before:  # until the charts below have followed the range
        assert time.perf_counter() < deadline, "the charts did not follow the dragged range"
    page.screenshot(path=str(screenshots / "analysis_zoom.png"))


def test_the_speed_control_wraps_on_a_phone(app_server, new_page, screenshots):
    page = new_page(390, 844)  # the sidebar starts collapsed: the live page's own Run button
    page.goto(app_server + "/Live_Run?scenario=baseline&duration_s=600&workload.rate_rps=400")
    page.get_by_role("button", name="Run this config").click()
    page.wait_for_selector("text=Live log")
    speeds = """() => [...document.querySelectorAll('.st-key-live-speed [data-testid="stButtonGroup"] button')]
                 .filter(b => /^(max|[0-9.]+×)$/.test(b.innerText.trim()))
                 .map(b => [b.innerText.trim(), b.getBoundingClientRect().right, window.innerWidth])"""
    page.wait_for_function(f"() => ({speeds})().length >= 8")  # the live header's control is drawn
    rights = page.evaluate(speeds)
    assert [r[0] for r in rights] == ["max", "1×", "1.5×", "2×", "5×", "10×", "25×", "100×"]
    assert all(right <= width + 0.5 for _, right, width in rights), rights  # wrapped, not cut off
    page.screenshot(path=str(screenshots / "live_run_390px.png"))
    page.get_by_role("button", name="Stop", exact=True).click()
    page.wait_for_selector("text=Stopped at", timeout=120_000)
