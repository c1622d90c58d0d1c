"""In the browser: a question typed into the analyst chat gets a streamed answer.

Uses ``app_server`` and ``browser`` from tests/e2e/conftest.py. No key is set, so the
offline analyst answers (the page says so); the test watches the answer's text grow in
the DOM while it streams.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e

WATCH_JS = """() => {
  window.__answerLengths = [];
  const last = () => {
    const msgs = [...document.querySelectorAll('[data-testid="stChatMessage"]')]
      .filter(m => m.querySelector('[data-testid="stChatMessageAvatarAssistant"]'));
    return msgs.length ? msgs[msgs.length - 1] : null;
  };
  new MutationObserver(() => {
    const m = last();
    if (m) window.__answerLengths.push(m.innerText.length);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def test_question_gets_a_streamed_answer(app_server: str, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{app_server}/Analyst?scenario=node_failure")  # the page runs the sidebar's scenario
    page.get_by_text("No finished run yet").wait_for()
    page.get_by_role("button", name=re.compile(r"^Run node_failure and analyse it$")).click()
    box = page.get_by_placeholder(re.compile("Ask about this run"))
    box.wait_for()
    assert page.get_by_text(re.compile("offline analyst", re.I)).first.is_visible()
    page.evaluate(WATCH_JS)
    box.fill("Why did the hit ratio drop at t=10 s?")
    box.press("Enter")
    answer = (
        page.locator('[data-testid="stChatMessage"]')
        .filter(has=page.locator('[data-testid="stChatMessageAvatarAssistant"]'))
        .last
    )
    # .first: the answer names the kill in more than one paragraph, and a busy browser
    # can receive them in one update
    answer.get_by_text(re.compile(r"chaos killed node-2 at t=10\.0 s")).first.wait_for()
    page.get_by_text(re.compile(r"Tool calls behind this answer \([2-9]\)")).wait_for()
    text = answer.inner_text()
    assert "the balancer marked it down" in text
    assert "Offline analyst" in text
    lengths = [n for n in page.evaluate("window.__answerLengths") if n > 0]
    assert len(set(lengths)) >= 3, f"the answer arrived in one piece: {lengths[:20]}"
    assert min(lengths) < max(lengths) / 2  # seen while it was still short
    # the cited window is drawn, and a follow-up button is offered
    answer.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
    assert page.get_by_role("button", name=re.compile("What happened when chaos")).count() >= 1
