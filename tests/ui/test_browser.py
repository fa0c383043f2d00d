"""The viewer in headless Chromium: what a person sees on the traces, trace and conversation
pages of a store written by the demo, the examples and a crafted trace."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the [test] extra")
from selenium.common.exceptions import WebDriverException

from .conftest import Store, Viewer, start_viewer
from .crafted import LAYOUT, SCRIPT, crafted_spans, write_crafted_trace, write_spans

TIMEOUT = 20.0


def wait(driver: Any, condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (WebDriverException, IndexError):  # the page is still rendering
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(
        f"timed out waiting for {what}; page text:\n{driver.find_element('tag name', 'body').text[:2000]}"
    )


def css(driver: Any, selector: str) -> list[Any]:
    return driver.find_elements("css selector", selector)


def texts(driver: Any, selector: str) -> list[str]:
    return [element.text for element in css(driver, selector)]


def row_ids(driver: Any) -> list[str]:
    return [row.get_attribute("data-trace-id") for row in css(driver, "tr.trace-row")]


def store_traces(db: Path, where: str = "", params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(f"SELECT * FROM traces {where} ORDER BY start_ns DESC", params).fetchall()
    finally:
        conn.close()


def open_traces(browser: Any, url: str, expected: list[str]) -> None:
    browser.get(url)
    wait(browser, lambda: row_ids(browser) == expected, f"rows {expected} at {url}")


def test_traces_page_lists_every_trace_newest_first(
    browser: Any, viewer: Viewer, store: Store, artifacts: Path
) -> None:
    traces = store_traces(store.db)
    open_traces(browser, viewer.url + "/", [t["trace_id"] for t in traces])
    assert row_ids(browser)[0] == store.crafted
    first = css(browser, "tr.trace-row")[0]
    assert "<b>crafted</b> agent" in first.text  # markup in a name is text
    assert "xss-bot" in first.text and "ok · 1 error" in first.text and "$0.004321" in first.text
    agents = texts(browser, "tr.trace-row td.agent")
    assert {"support_agent", "weather-bot", "travel_agent", "faq-bot", "quickstart", "xss-bot"} == set(agents)
    demo = next(r for r in css(browser, "tr.trace-row") if "demo-conversation" in r.text and "#1" in r.text)
    assert "support_agent" in demo.text and "595 → 69" in demo.text and "user-alice" in demo.text
    assert f"{len(traces)} traces" in browser.find_element("id", "summary").text
    browser.save_screenshot(str(artifacts / "traces.png"))


@pytest.mark.parametrize(
    ("query", "where", "params"),
    [
        ("agent=support_agent", "WHERE agent_name = ?", ("support_agent",)),
        ("status=error", "WHERE status = 'error' OR error_count > 0", ()),
        ("status=ok", "WHERE status = 'ok' AND error_count = 0", ()),
        ("q=get_weather", "WHERE trace_id IN (SELECT trace_id FROM spans WHERE name = 'get_weather')", ()),
        ("conversation=demo-conversation", "WHERE conversation_id = ?", ("demo-conversation",)),
        ("session=web-session-7", "WHERE session_id = ?", ("web-session-7",)),
        ("user=user-bob", "WHERE user_id = ?", ("user-bob",)),
        ("environment=dev&source_type=demo", "WHERE environment = 'dev' AND source_type = 'demo'", ()),
    ],
)
def test_filters_from_the_url(
    browser: Any, viewer: Viewer, store: Store, query: str, where: str, params: tuple[str, ...]
) -> None:
    expected = [t["trace_id"] for t in store_traces(store.db, where, params)]
    assert expected  # the store holds what the filter is about
    open_traces(browser, f"{viewer.url}/?{query}", expected)


def test_filter_controls_narrow_the_list(browser: Any, viewer: Viewer, store: Store) -> None:
    from selenium.webdriver.support.ui import Select

    everything = [t["trace_id"] for t in store_traces(store.db)]
    open_traces(browser, viewer.url + "/", everything)
    wait(browser, lambda: len(css(browser, "select[name=agent] option")) > 1, "agents in the filter")
    Select(browser.find_element("css selector", "select[name=agent]")).select_by_visible_text("weather-bot")
    weather = [t["trace_id"] for t in store_traces(store.db, "WHERE agent_name = 'weather-bot'")]
    wait(browser, lambda: row_ids(browser) == weather, "the weather-bot trace only")
    assert "agent=weather-bot" in browser.current_url
    Select(browser.find_element("css selector", "select[name=agent]")).select_by_index(0)
    Select(browser.find_element("css selector", "select[name=status]")).select_by_visible_text("with errors")
    failed = [t["trace_id"] for t in store_traces(store.db, "WHERE error_count > 0")]
    wait(browser, lambda: row_ids(browser) == failed, "traces with errors")
    browser.find_element("css selector", "input[name=q]").send_keys("refund")
    refund = [
        t["trace_id"]
        for t in store_traces(
            store.db,
            "WHERE error_count > 0 AND trace_id IN (SELECT trace_id FROM spans WHERE name LIKE '%refund%')",
        )
    ]
    wait(browser, lambda: row_ids(browser) == refund, "the refund trace")
    browser.get(viewer.url + "/?since=2099-01-01T00:00:00Z")
    wait(browser, lambda: "No traces match" in browser.find_element("id", "traces").text, "an empty list")
    browser.get(viewer.url + "/?until=2000-01-01T00:00:00Z")
    wait(browser, lambda: "No traces match" in browser.find_element("id", "traces").text, "an empty list")
    open_traces(browser, viewer.url + "/?since=1h", everything)


def test_paging(browser: Any, viewer: Viewer, store: Store) -> None:
    ids = [t["trace_id"] for t in store_traces(store.db)]
    open_traces(browser, viewer.url + "/?limit=3", ids[:3])
    assert not browser.find_element("id", "newer").is_enabled()
    browser.find_element("id", "older").click()
    wait(browser, lambda: row_ids(browser) == ids[3:6], "the second page")
    assert "showing 4–6" in browser.find_element("id", "summary").text
    browser.find_element("id", "newer").click()
    wait(browser, lambda: row_ids(browser) == ids[:3], "the first page again")


def test_live_refresh_shows_new_traces(browser: Any, store: Store, tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    first = write_crafted_trace(str(db), time.time_ns(), agent="first-bot")
    with start_viewer(str(db)) as viewer:
        open_traces(browser, viewer.url + "/", [first])
        second = write_crafted_trace(str(db), time.time_ns(), agent="second-bot")  # the app keeps writing
        expected = [second, first]
        wait(browser, lambda: row_ids(browser) == expected, "the new trace, without a reload")
        assert "new" in css(browser, "tr.trace-row")[0].get_attribute("class")


def span_rows(browser: Any) -> list[Any]:
    return css(browser, "#waterfall .span-row")


def open_trace(browser: Any, viewer: Viewer, trace_id: str) -> None:
    browser.get(f"{viewer.url}/trace/{trace_id}")
    wait(browser, lambda: span_rows(browser), "the span tree")


def select(browser: Any, kind: str) -> Any:
    browser.find_element("css selector", f'#waterfall .span-row[data-kind="{kind}"]').click()
    return wait(browser, lambda: kind in browser.find_element("css selector", "#detail .detail-head").text.lower()
                and browser.find_element("id", "detail"), f"the {kind} span's detail")  # fmt: skip


def test_trace_tree_and_waterfall_widths(browser: Any, viewer: Viewer, store: Store) -> None:
    open_trace(browser, viewer, store.crafted)
    rows = span_rows(browser)
    assert [r.find_element("css selector", ".span-name").text for r in rows] == [name for name, *_ in LAYOUT]
    assert [r.get_attribute("data-kind") for r in rows] == [kind for _, kind, *_ in LAYOUT]
    assert ["error" in r.get_attribute("class") for r in rows] == [False, False, False, True]
    total = LAYOUT[0][4] - LAYOUT[0][3]
    track = rows[0].find_element("css selector", ".wf-track").rect["width"]
    origin = rows[0].find_element("css selector", ".wf-track").rect["x"]
    for row, (name, _, _, start, end) in zip(rows, LAYOUT):
        bar = row.find_element("css selector", ".bar").rect
        assert bar["width"] / track == pytest.approx((end - start) / total, abs=0.01), name
        assert (bar["x"] - origin) / track == pytest.approx(start / total, abs=0.01), name
    totals = browser.find_element("id", "totals").text
    assert "800ms" in totals and "1 failed" in totals and "1,500" in totals and "$0.004321" in totals
    assert "800 cached" in totals and "120 reasoning" in totals


def test_llm_span_shows_messages_with_the_script_tag_as_text(
    browser: Any, viewer: Viewer, store: Store, artifacts: Path
) -> None:
    open_trace(browser, viewer, store.crafted)
    detail = select(browser, "llm")
    roles = texts(browser, "#detail .messages .msg-role")
    assert roles == ["SYSTEM", "USER"]
    user = css(browser, "#detail .messages .msg.role-user .msg-text")[0]
    assert SCRIPT in user.text and "<b>not bold</b>" in user.text
    assert browser.execute_script("return window.__stasoXss") is None  # neither the script nor onerror ran
    assert not css(browser, "#app script, #app img, #app b, #app i, #app u")
    assistant = browser.find_element("css selector", "#detail .output .msg.role-assistant")
    assert "I will delete the file." in assistant.text
    call = assistant.find_element("css selector", ".tool-call")
    assert "delete_file" in call.text and '"path": "/etc/passwd"' in call.text
    usage = {td.get_attribute("data-bucket"): td.text for td in css(browser, "#detail .usage td")}
    assert usage == {
        "input": "1,200",
        "cached": "800",
        "cache_write": "100",
        "output": "300",
        "reasoning": "120",
        "total": "1,500",
    }
    facts = detail.find_element("css selector", ".facts").text
    assert "TTFT\n123ms" in facts and "gpt-4o → gpt-4o-2024-08-06" in facts and "$0.004321" in facts
    assert "openai · chat" in facts and "tool_calls" in facts
    browser.save_screenshot(str(artifacts / "trace.png"))


def test_tool_span_shows_its_error_and_guard_verdict(browser: Any, viewer: Viewer, store: Store) -> None:
    open_trace(browser, viewer, store.crafted)
    detail = select(browser, "tool")
    assert detail.find_element("css selector", ".error-type").text == "staso_integrations.guard.ToolBlocked"
    assert "blocked by guard" in detail.find_element("css selector", ".error-message").text
    guard = detail.find_element("css selector", ".guard").text
    assert "BLOCKED" in guard and "enforce mode" in guard and "fail no_system_paths · system path" in guard
    assert '"path": "/etc/passwd"' in detail.find_element("css selector", ".arguments").text


def test_retriever_span_shows_documents_with_scores(browser: Any, viewer: Viewer, store: Store) -> None:
    open_trace(browser, viewer, store.crafted)
    select(browser, "retriever")
    assert texts(browser, "#detail .doc-score") == ["0.920", "0.410"]
    assert texts(browser, "#detail .doc-id") == ["doc-1", "doc-2"]
    assert SCRIPT in texts(browser, "#detail .doc .msg-text")[1]
    assert browser.execute_script("return window.__stasoXss") is None


def test_demo_trace_shows_the_agent_tree_and_the_failed_refund(
    browser: Any, viewer: Viewer, store: Store, artifacts: Path
) -> None:
    (trace,) = store_traces(store.db, "WHERE conversation_id = 'demo-conversation' AND turn_index = 1")
    open_trace(browser, viewer, trace["trace_id"])
    names = [r.find_element("css selector", ".span-name").text for r in span_rows(browser)]
    assert names == ["support_agent", "retrieve_policies.before_agent", "PolicyRetriever", "model", "ChatOpenAI",
                     "tools", "issue_refund", "model", "ChatOpenAI"]  # fmt: skip
    failed = [
        r.find_element("css selector", ".span-name").text
        for r in span_rows(browser)
        if "error" in r.get_attribute("class")
    ]
    assert failed == ["issue_refund"]
    select(browser, "tool")
    assert (
        "payments API: refunds to gift cards are not supported"
        in browser.find_element("css selector", "#detail .error-box").text
    )
    # the first ChatOpenAI call: a chat with the system prompt and the user's question
    span_rows(browser)[4].click()
    wait(
        browser,
        lambda: "ChatOpenAI" in browser.find_element("css selector", "#detail h2").text,
        "the llm span",
    )
    assert (
        "The jacket arrived damaged. Please refund order A-1001."
        in browser.find_element("css selector", "#detail .messages").text
    )
    assert "issue_refund" in browser.find_element("css selector", "#detail .output .tool-call").text
    browser.save_screenshot(str(artifacts / "demo-trace.png"))  # the one in the README (docs/ui-trace.png)


def test_conversation_page_lists_turns_in_order(
    browser: Any, viewer: Viewer, store: Store, artifacts: Path
) -> None:
    turns = store_traces(store.db, "WHERE conversation_id = 'demo-conversation'")[::-1]
    browser.get(viewer.url + "/conversation/demo-conversation")
    wait(browser, lambda: len(css(browser, "#turns .turn")) == 2, "two turns")
    cards = css(browser, "#turns .turn")
    assert [c.get_attribute("data-trace-id") for c in cards] == [t["trace_id"] for t in turns]
    assert texts(browser, ".turn-index") == ["Turn 0", "Turn 1"]
    assert texts(browser, ".turn-tokens") == [f"{t['total_tokens']} tok" for t in turns]
    assert texts(browser, ".turn-cost") == [f"${t['cost_usd']:.6f}" for t in turns]
    assert "Where is my order A-1001?" in cards[0].text and "delivered on 2026-11-20" in cards[0].text
    assert "Please refund order A-1001." in cards[1].text
    browser.save_screenshot(str(artifacts / "conversation.png"))
    cards[1].find_element("css selector", "a.turn-link").click()
    wait(
        browser,
        lambda: browser.current_url.endswith("/trace/" + turns[1]["trace_id"]) and span_rows(browser),
        "the turn's trace",
    )


def test_session_page(browser: Any, viewer: Viewer, store: Store) -> None:
    browser.get(viewer.url + "/session/web-session-7")
    wait(
        browser, lambda: texts(browser, ".turn-index") == ["Turn 0", "Turn 1"], "the faq-bot session's turns"
    )
    assert "What are your opening hours?" in css(browser, "#turns .turn")[0].text


def bad_store(folder: Path, kind: str) -> Path:
    path = folder / f"{kind}.db"
    if kind == "corrupt":
        path.write_bytes(b"this is not a database at all" * 200)
    elif kind == "foreign":
        sqlite3.connect(path).execute("CREATE TABLE notes (x)").connection.close()
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "No trace store at"),
        ("corrupt", "is not a readable SQLite database"),
        ("foreign", "is a SQLite database but not a staso trace store"),
    ],
)
def test_store_problems_show_a_clear_page(browser: Any, tmp_path: Path, kind: str, message: str) -> None:
    with start_viewer(str(bad_store(tmp_path, kind))) as viewer:
        for page in ("/", "/trace/abc", "/conversation/c"):
            browser.get(viewer.url + page)
            wait(
                browser,
                lambda: message in browser.find_element("id", "problem").text,
                f"{message!r} on {page}",
            )
            assert "Traceback" not in browser.find_element("tag name", "body").text


def test_running_trace_is_shown_and_completes_live(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "running.db"
    root, *children = crafted_spans(time.time_ns(), agent="busy-bot")
    write_spans(str(db), children, finished=False)  # the root is still open
    with start_viewer(str(db)) as viewer:
        open_trace(browser, viewer, root.trace_id)
        assert len(span_rows(browser)) == 3
        assert browser.find_element("css selector", ".page-head .status").text == "running"
        write_spans(str(db), [root, *children], finished=True)
        wait(browser, lambda: len(span_rows(browser)) == 4, "the root, without a reload")
        wait(
            browser,
            lambda: "ok · 1 error" in browser.find_element("css selector", ".page-head").text,
            "the roll-up",
        )


def test_arrow_keys_walk_the_tree(browser: Any, viewer: Viewer, store: Store) -> None:
    from selenium.webdriver.common.keys import Keys

    open_trace(browser, viewer, store.crafted)
    span_rows(browser)[0].click()
    for kind in ("retriever", "llm", "tool"):
        browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
        wait(
            browser,
            lambda k=kind: k in browser.find_element("css selector", "#detail .detail-head").text.lower(),
            kind,
        )
    browser.switch_to.active_element.send_keys(Keys.ARROW_UP)
    wait(
        browser,
        lambda: "llm" in browser.find_element("css selector", "#detail .detail-head").text.lower(),
        "llm again",
    )
