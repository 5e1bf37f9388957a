"""Both widgets in a real browser: JupyterLab headless, Chromium driven by Playwright.

A notebook written into a temporary folder builds a tiny pruned run and shows the live pruning widget on it and the
recorded-run widget on the repository's ``data/results``. The test runs all cells from JupyterLab's Run menu, drags
each slider, checks that the numbers and the figures changed, and saves a screenshot to the ignored
``outputs/figures/widgets.png``, so ``make test`` leaves the tracked files alone. With ``BMP_REFRESH_SCREENSHOT=1`` it
saves it to ``docs/figures/widgets.png`` instead, the README's copy (after a change to either widget). Skipped, saying
how to install them, when Chromium or Playwright is missing.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
README_SCREENSHOT = REPO / "docs" / "figures" / "widgets.png"  # tracked: rewritten only when asked
REFRESH_ENV = "BMP_REFRESH_SCREENSHOT"  # "1": refresh the README's copy


def screenshot_path() -> Path:
    """Where the screenshot goes: the README's copy when ``$BMP_REFRESH_SCREENSHOT`` is 1, else the ignored
    outputs folder (``$BMP_OUTPUT_DIR`` when set, as for the notebooks' figures)."""
    if os.environ.get(REFRESH_ENV) == "1":
        return README_SCREENSHOT
    from bmp.course.notebooks import output_dir

    return output_dir() / "figures" / "widgets.png"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TOKEN = "bmp-browser-test"
SLOW = 300_000  # ms: the CPU is shared with training runs, and every slider move re-packs, times and scores

SETUP = """import tempfile

import datasets
from transformers.utils import logging

import bmp
from bmp.results.records import load_records
from bmp.course.tiny_run import make_tiny_run

logging.disable_progress_bar()
datasets.disable_progress_bars()
tiny = make_tiny_run(tempfile.mkdtemp(prefix="bmp-tiny-run-"))"""
CELLS = [
    SETUP,
    "# the live pruning widget on a tiny pruned run (smoke profile: F1 on the sample's held-out questions)\n"
    "live = bmp.live_pruning_widget(tiny.run, tiny.teacher, subset=32)\nlive",
    "# the recorded runs of data/results: which model to ship for the F1 you may give up\n"
    "box = bmp.tradeoff_widget(load_records(), dense_heads=12, dense_neurons=1536)\nbox",
]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
             for source in CELLS]
    path.write_text(json.dumps({
        "cells": cells, "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}))


@pytest.fixture
def chromium():
    """Chromium's path and Playwright's sync API, or a skip that says how to install what is missing."""
    path = _chromium()
    if path is None:
        pytest.skip("no Chromium: install it as root with `apt-get install -y chromium` (Debian's package; "
                    "`make test` does when run as root)")
    try:
        from playwright import sync_api
    except ImportError:
        pytest.skip("no Playwright for Python: `pip install playwright` (it is in the test extra); its own browser "
                    "download is not needed, the test drives Debian's Chromium")
    return path, sync_api


@pytest.fixture
def lab(tmp_path, chromium):
    """A headless JupyterLab on a free port serving ``tmp_path`` (with the widgets notebook in it)."""
    jupyter = Path(sys.executable).with_name("jupyter")
    if not jupyter.exists():
        pytest.skip(f"no jupyter next to {sys.executable}: install the course extra (pip install -e '.[course]')")
    _notebook(tmp_path / "widgets.ipynb")
    port = _free_port()
    env = {**os.environ, "BMP_PROFILE": "smoke", "BMP_SOLUTIONS": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "JUPYTER_RUNTIME_DIR": str(tmp_path / ".runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / ".ws")}
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
         f"--ServerApp.root_dir={tmp_path}", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate", *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start: see {tmp_path / 'lab.log'}:\n"
                                       + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(1)
        yield url
    finally:
        _stop(server)
        log.close()


def _stop(server: subprocess.Popen) -> None:
    """Stop the server this test started and the kernels it started (its own process group)."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _run_all_cells(page) -> None:
    """Wait for the notebook and its kernel, then Run > Run All Cells, as a user would."""
    page.wait_for_function(f"document.querySelectorAll('.jp-Notebook .jp-Cell').length === {len(CELLS)}",
                           timeout=SLOW)
    _idle(page)
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    page.wait_for_function("document.querySelector('.jp-InputArea-prompt') && "
                           "/\\[(\\*|\\d+)\\]/.test(document.querySelector('.jp-InputArea-prompt').innerText)",
                           timeout=SLOW)  # the first cell runs or ran


def _drag(page, handle, dx: float) -> None:
    """Drag a slider handle ``dx`` pixels, as a user would (one change when the mouse is released)."""
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=12)
    page.mouse.up()


def _idle(page) -> None:
    page.wait_for_function("(() => { const bar = document.querySelector('#jp-main-statusbar'); "
                           "return bar && /ipykernel\\)\\s*\\|\\s*Idle/.test(bar.innerText); })()", timeout=SLOW)


def _after_change(page, selector: str, before: str) -> str:
    """Wait until ``selector``'s text differs from ``before`` and the kernel is done; return the new text."""
    page.wait_for_function("([sel, old]) => { const e = document.querySelector(sel); return e && e.innerText !== old "
                           "&& !e.closest('.bmp-live, .bmp-tradeoff').innerText.includes('redrawing'); }",
                           arg=[selector, before], timeout=SLOW)
    _idle(page)
    return page.inner_text(selector)


def _chosen(page, widget: str) -> str:
    """The name of the model the trade-off widget chooses (in bold), or "" when it keeps the teacher."""
    names = page.locator(f"{widget} .widget-html-content b")
    return names.first.inner_text() if names.count() else ""


def _images(page, widget: str) -> list[str]:
    return page.eval_on_selector_all(f"{widget} img", "images => images.map(i => i.src)")


def _tidy(page) -> None:
    """Room for the widgets in the screenshot: no file browser, no news toast."""
    page.keyboard.press("Control+b")  # toggle the left sidebar
    try:
        page.get_by_role("button", name="No", exact=True).click(timeout=3000)
    except Exception:  # no toast this time
        pass


def test_both_widgets_follow_their_sliders_in_jupyterlab(chromium, lab, tmp_path):
    path, sync_api = chromium
    start = time.monotonic()
    live, box = ".bmp-live", ".bmp-tradeoff"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 2100})
        try:
            page.goto(f"{lab}/lab/tree/widgets.ipynb?token={TOKEN}", timeout=SLOW)
            _run_all_cells(page)
            page.wait_for_selector(f"{live} .bmp-live-report", timeout=SLOW)
            page.wait_for_selector(f"{box} .widget-html-content", timeout=SLOW)
            _idle(page)
            # the live widget: masks and kept heads, then its target form's heatmap (empty until a target lands)
            assert len(_images(page, live)) == 3 and len(_images(page, box)) == 2

            # the live widget: drag the threshold up, then switch to TopK
            numbers, masks = page.inner_text(f"{live} .bmp-live-report"), _images(page, live)[0]
            readout = page.inner_text(f"{live} .widget-readout")
            _drag(page, page.locator(f"{live} .noUi-handle").first, 220)
            numbers = _after_change(page, f"{live} .bmp-live-report", numbers)
            assert page.inner_text(f"{live} .widget-readout") != readout, "the live slider did not move"
            assert _images(page, live)[0] != masks, "the masks were not redrawn"
            masks = _images(page, live)[0]
            page.click(f"{live} button:has-text('TopK')")
            numbers = _after_change(page, f"{live} .bmp-live-report", numbers)
            assert "TopK" in page.inner_text(f"{live} .widget-slider") and _images(page, live)[0] != masks

            # the recorded-run widget: give up more F1, another model is chosen and ringed on the front
            summary, plot = page.inner_text(f"{box} .widget-html-content"), _images(page, box)[0]
            chosen = _chosen(page, box)  # none, when no recorded model is within the default F1 given up
            _drag(page, page.locator(f"{box} .noUi-handle").first, 160)
            _after_change(page, f"{box} .widget-html-content", summary)
            assert _chosen(page, box) not in ("", chosen), "no other model is chosen"
            assert _images(page, box)[0] != plot, "the front plot was not redrawn"

            _tidy(page)
            page.wait_for_timeout(500)
            screenshot = screenshot_path()
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))  # what the browser showed, for the failure report
            print(f"the browser's view at the failure: {tmp_path / 'failure.png'}; JupyterLab's log: "
                  f"{tmp_path / 'lab.log'}")
            raise
        finally:
            browser.close()
    print(f"browser test: {time.monotonic() - start:.0f} s in Chromium; screenshot {screenshot_path()}")


def test_the_screenshot_leaves_the_tracked_copy_alone_unless_asked(monkeypatch):
    """`make test` must leave a clean clone's tracked files untouched."""
    import subprocess

    monkeypatch.delenv(REFRESH_ENV, raising=False)
    monkeypatch.delenv("BMP_OUTPUT_DIR", raising=False)
    path = screenshot_path()
    assert path != README_SCREENSHOT
    ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO)
    assert ignored.returncode == 0, f"{path} is not git-ignored"
    monkeypatch.setenv(REFRESH_ENV, "1")
    assert screenshot_path() == README_SCREENSHOT
