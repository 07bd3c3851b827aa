"""Each HTML page of the monthly report, rendered in a real headless Chromium (Debian's package,
installed by .ci/run): every chart drew (its SVG and its traces are in the page) and no script
failed. The page is loaded from a copy with an error recorder put first in its head; Chromium
dumps the DOM after the page's scripts ran.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.test_monthly_report import NET_REF, network, report  # noqa: F401  small publications
from transforms.monthly_report import gather, write_html

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RECORDER = ("<script>window.addEventListener('error', function (event) {"
            "var root = document.documentElement;"
            "root.setAttribute('data-script-errors', (root.getAttribute('data-script-errors') || '')"
            " + event.message + ' | ');});</script>")
CHART = re.compile(r'<div id="([^"]+)" class="plotly-graph-div[^"]*"')


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is missing: .ci/run installs Debian's package `chromium`"
    return found


def rendered(page: Path, tmp_path: Path) -> str:
    """The page's DOM after Chromium ran its scripts (with the error recorder)."""
    probe = tmp_path / f"probe-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + RECORDER, 1),
                     encoding="utf-8")
    profile = tmp_path / f"profile-{page.stem}"
    done = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                           "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "</html>" in done.stdout, done.stderr[-2000:]
    return done.stdout


def drawn_charts(dom: str) -> dict[str, str]:
    """chart id -> the part of the DOM from its div to the next chart's."""
    starts = [(m.start(), m.group(1)) for m in CHART.finditer(dom)]
    ends = [s for s, _ in starts[1:]] + [len(dom)]
    return {chart: dom[start:end] for (start, chart), end in zip(starts, ends)}


def assert_every_chart_drew(page: Path, tmp_path: Path) -> int:
    return assert_drawn_in(rendered(page, tmp_path), page)


def assert_drawn_in(dom: str, page: Path) -> int:
    """No script failed and every chart of the page drew, in Chromium's DOM of it."""
    expected = CHART.findall(page.read_text(encoding="utf-8"))
    errors = re.search(r'data-script-errors="([^"]*)"', dom)
    assert errors is None, f"{page.name}: script errors: {html.unescape(errors.group(1))}"
    charts = drawn_charts(dom)
    assert list(charts) == expected and expected, page.name
    for chart, part in charts.items():
        assert "js-plotly-plot" in part[:300], f"{page.name}: chart {chart} was not plotted"
        assert 'class="main-svg"' in part, f"{page.name}: chart {chart} has no SVG"
        assert re.search(r'class="(trace|point)\b', part), f"{page.name}: chart {chart} drew no trace"
    return len(expected)


@pytest.mark.parametrize("name", ["internal_html", "public_html"])
def test_each_page_of_the_report_draws_every_chart(report, name, tmp_path):  # noqa: F811
    assert assert_every_chart_drew(report[name], tmp_path) >= 2


def test_the_page_of_25_municipalities_draws_every_chart(network, tmp_path):  # noqa: F811
    """The hand-built network's internal page: 24 panels of municipalities, 25 in occupancy."""
    data = replace(gather(network, NET_REF, ["programme", "evaluation-2021"]), language="nl")
    assert assert_every_chart_drew(write_html(data, tmp_path / "network.html"), tmp_path) == 6


def test_a_script_error_or_an_undrawn_chart_is_caught(report, tmp_path):  # noqa: F811
    """One page broken both ways, rendered once (a Chromium run costs seconds): a script that fails
    after the charts' calls were taken out (divs without a plot). The error is caught; and with
    the error recorder's attribute taken out of the DOM, the DOM of the charts alone, each chart
    not plotted is caught."""
    page = report["public_html"].read_text(encoding="utf-8")
    broken = tmp_path / "broken.html"
    broken.write_text(page.replace("Plotly.newPlot(", "(function () {})(").replace(
        "</body>", "<script>undefinedReportFunction();</script></body>"), encoding="utf-8")
    dom = rendered(broken, tmp_path)
    with pytest.raises(AssertionError, match="undefinedReportFunction"):
        assert_drawn_in(dom, broken)
    undrawn, removed = re.subn(r' data-script-errors="[^"]*"', "", dom)
    assert removed == 1
    with pytest.raises(AssertionError, match="was not plotted"):
        assert_drawn_in(undrawn, broken)


@pytest.mark.flow
@pytest.mark.parametrize("edition", ["internal", "public"])
def test_the_demo_report_pages_draw_in_chromium(demo_run, edition, tmp_path):
    paths, _, _ = demo_run
    page = paths.root / "reports" / "2020-11-01" / f"lvv-monthly-2020-11-01-{edition}.html"
    assert "<html lang='nl'>" in page.read_text(encoding="utf-8")[:200]
    assert assert_every_chart_drew(page, tmp_path) >= (6 if edition == "internal" else 3)
