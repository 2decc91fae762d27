"""The HTML report in a real headless browser (Debian's chromium), driven over the DevTools protocol.

Checks what a person would: the page loads with no console errors, typing in the filter hides rows,
opening an example shows its diff, and a prompt holding <script> is shown as text and never runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_inspect import sample_records, write_run  # noqa: E402

from cai.inspect import load_run  # noqa: E402
from cai.inspect.html_report import write_report  # noqa: E402
from cai.inspect.summary import summarize_run  # noqa: E402
from cai.records import Record  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
INSTALL_HINT = "install it with `apt-get update && apt-get install -y chromium` (the Makefile's set-up does this)"


def find_browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(f"no headless browser found ({', '.join(BROWSERS)}): {INSTALL_HINT}", pytrace=False)


class Page:
    """Just enough of the DevTools protocol: send a command, collect events, wait for one."""

    def __init__(self, url: str):
        from websockets.sync.client import connect

        self.socket = connect(url, max_size=None, open_timeout=30)
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, timeout: float = 30, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method} failed: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            message = json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            self.events.append(message)

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element, as a person would make it."""
        box = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView();"
                            " const r = e.getBoundingClientRect();"
                            " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def problems(self) -> list[str]:
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails'].get('text')} "
                             f"{params['exceptionDetails'].get('exception', {}).get('description', '')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                found.append(f"console.{params['type']}: {[a.get('value') for a in params.get('args', [])]}")
            elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
                found.append(f"log {params['entry']['level']}: {params['entry'].get('text')}")
        return found

    def close(self) -> None:
        self.socket.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = find_browser()
    profile = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen(
        [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"  # chromium writes the port it picked here
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{executable} did not start its DevTools endpoint; {INSTALL_HINT}", pytrace=False)
            time.sleep(0.1)
        yield int(port_file.read_text().splitlines()[0])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def open_page(port: int, path: Path) -> Page:
    from urllib.request import urlopen

    targets = json.loads(urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
    target = next(t for t in targets if t.get("type") == "page")
    page = Page(target["webSocketDebuggerUrl"])
    for domain in ("Runtime", "Log", "Page"):
        page.send(f"{domain}.enable")
    page.events.clear()
    page.send("Page.navigate", url=path.as_uri())
    page.wait_for("Page.loadEventFired")
    return page


@pytest.fixture
def report(tmp_path) -> Path:
    records = sample_records()
    hostile = Record("ex-hostile", [{"role": "user", "content": "<script>window.__pwned = 1</script>"
                                                              "<img src=x onerror=\"window.__pwned = 2\">"}],
                     category="benign", initial_response="</script><b>bold?</b>", rounds=[])
    run = load_run(write_run(tmp_path / "run", records + [hostile]))
    return write_report(run, summarize_run(run), tmp_path / "report.html")


def test_report_loads_filters_and_shows_a_diff_in_chromium(browser, report):
    page = open_page(browser, report)
    try:
        visible_rows = "document.querySelectorAll('#example-list tbody tr:not([hidden])').length"
        assert page.evaluate(visible_rows) == 4
        assert page.evaluate("document.querySelector('#summary').innerText").count("revisions that changed") >= 1

        page.click("#filter")
        page.send("Input.insertText", text="locksmith")  # typed, as from the keyboard
        assert page.evaluate(visible_rows) == 1
        assert page.evaluate("document.querySelector('#example-list tbody tr:not([hidden])').dataset.index") == "0"
        assert "1 of 4 shown" in page.evaluate("document.querySelector('#shown-count').textContent")

        page.click("#example-list tbody tr:not([hidden])")
        story = page.evaluate("document.querySelector('#story').textContent")
        assert "Example 0: ex-lock" in story and "harm-illegal-instructions" in story
        inserted = page.evaluate("[...document.querySelectorAll('#story .diff ins')].map(e => e.textContent)")
        deleted = page.evaluate("[...document.querySelectorAll('#story .diff del')].map(e => e.textContent)")
        assert "Please ask " in inserted and "Ask " in deleted
        assert page.evaluate("getComputedStyle(document.querySelector('#story .diff ins')).display") != "none"
        assert page.problems() == []
    finally:
        page.close()


def test_user_text_is_shown_as_text_and_never_runs(browser, report):
    page = open_page(browser, report)
    try:
        page.evaluate("document.querySelector('#example-list tbody tr[data-index=\"3\"]').click()")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        story = page.evaluate("document.querySelector('#story').textContent")
        assert "<script>window.__pwned = 1</script>" in story and "</script><b>bold?</b>" in story
        assert page.evaluate("document.querySelectorAll('#story img, #story b, #story script').length") == 0
        assert page.problems() == []
    finally:
        page.close()


def test_missing_browser_fails_with_the_install_command(monkeypatch):
    monkeypatch.setenv("PATH", os.devnull)
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        find_browser()


# -- the summary's charts: inline SVG drawn by the page, checked against the manifest's numbers ------------

CHART_MANIFEST = {
    "status": "complete", "model": "tiny", "engine": "scripted",
    "labels": {"status": "on",
               "histogram": {"answer": "second", "edges": [round(i / 10, 4) for i in range(11)],
                             "counts": [0, 1, 0, 0, 2, 3, 0, 4, 1, 0]},
               "position_bias": {"flips": 4, "of": 7, "by_principle": {
                   "<b>harm</b>": {"flips": 3, "of": 3}, "helpful": {"flips": 1, "of": 4}}}},
    "quality": {"flagged": {"truncated": 3, "meta": 1}, "kept_out": 2},
}
EVAL_REPORT = {"per_category": {
    "harm-weapons": {"measure": "harmful_compliance", "models": {
        "model": {"rate": 0.25, "interval": [0.1, 0.4]}, "baseline": {"rate": 0.5, "interval": [0.3, 0.7]}}},
    "benign-lookalike": {"measure": "over_refusal", "models": {
        "model": {"rate": 0.125}, "baseline": {"rate": 0.75}}}}}


def bars_of(page: Page, chart: str) -> list[dict]:
    return page.evaluate(f"[...document.querySelectorAll('[data-chart=\"{chart}\"] rect.bar[data-value]')].map(r => "
                         "({...r.dataset, height: r.getBBox().height, width: r.getBBox().width}))")


def test_run_charts_draw_the_manifest_numbers(browser, tmp_path):
    run = load_run(write_run(tmp_path / "run", sample_records(), manifest=CHART_MANIFEST))
    page = open_page(browser, write_report(run, summarize_run(run), tmp_path / "report.html"))
    try:
        assert page.evaluate("[...document.querySelectorAll('figure.chart')].map(f => f.dataset.chart)") == [
            "label-scores", "position-flips", "quality-reasons"]
        histogram = bars_of(page, "label-scores")
        counts = CHART_MANIFEST["labels"]["histogram"]["counts"]
        assert [int(b["value"]) for b in histogram] == counts
        tallest = max(b["height"] for b in histogram)
        assert [round(b["height"] / tallest * max(counts), 3) for b in histogram] == counts  # drawn to scale
        marker = page.evaluate("(() => { const m = document.querySelector('[data-chart=\"label-scores\"] .marker');"
                               " const bars = [...document.querySelectorAll('[data-chart=\"label-scores\"] rect.bar')];"
                               " const a = bars[0].getBBox(), b = bars[bars.length - 1].getBBox();"
                               " return [Number(m.dataset.at), m.getBBox().x, (a.x - 1 + b.x + b.width + 1) / 2]; })()")
        assert marker[0] == 0.5 and abs(marker[1] - marker[2]) < 0.01  # the 0.5 line sits in the middle

        flips = {b["label"]: (int(b["value"]), int(b["of"])) for b in bars_of(page, "position-flips")}
        expected = CHART_MANIFEST["labels"]["position_bias"]["by_principle"]
        assert flips == {name: (c["flips"], c["of"]) for name, c in expected.items()}
        assert page.evaluate("document.querySelectorAll('#summary svg b').length") == 0  # a name stays text

        quality = {b["label"]: int(b["value"]) for b in bars_of(page, "quality-reasons")}
        assert quality == CHART_MANIFEST["quality"]["flagged"]
        chart = page.evaluate("document.querySelector('[data-chart=\"quality-reasons\"]').textContent")
        assert "2 example(s) kept out" in chart
        assert page.problems() == []
    finally:
        page.close()


def test_eval_charts_draw_each_models_rate_and_interval(browser, tmp_path):
    folder = write_run(tmp_path / "eval", sample_records(), manifest={"kind": "eval", "status": "complete",
                                                                        "report": "report.json"})
    (folder / "report.json").write_text(json.dumps(EVAL_REPORT))
    run = load_run(folder)
    page = open_page(browser, write_report(run, summarize_run(run), tmp_path / "report.html"))
    try:
        drawn = {(b["label"], b["model"]): b for b in bars_of(page, "eval-rates")}
        for category, block in EVAL_REPORT["per_category"].items():
            for model, found in block["models"].items():
                bar = drawn.pop((category, model))
                assert float(bar["value"]) == found["rate"]
                assert abs(bar["width"] - 220 * found["rate"]) < 0.01
                interval = [float(bar["low"]), float(bar["high"])] if "low" in bar else None
                assert interval == found.get("interval")
        assert drawn == {}
        assert page.evaluate("document.querySelectorAll('[data-chart=\"eval-rates\"] .whisker').length") == 2 * 3
        assert page.problems() == []
    finally:
        page.close()


def test_a_run_without_chart_numbers_draws_no_chart(browser, report):
    page = open_page(browser, report)
    try:
        assert page.evaluate("document.querySelectorAll('figure.chart').length") == 0
        assert page.problems() == []
    finally:
        page.close()
