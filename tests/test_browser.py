"""JupyterLab in a real browser: the notebook runs, its widgets render and reach the kernel.

Skipped where no Chromium is installed (`.ci/run` installs it with apt-get); the
playwright wheel drives the system Chromium and never downloads a browser.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from servers import free_port, stop, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (apt-get install -y chromium)"
)
NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
TOKEN = "labkit-browser-token"
FLAGS = [
    "--no-sandbox",  # needed as root in CI containers
    "--disable-gpu",
    "--disable-background-networking",  # the machine has no network: no update checks
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    # Serve a copy: the browser session may autosave, and must never touch the repository.
    root = tmp_path_factory.mktemp("lab")
    nb = nbformat.read(NOTEBOOKS / "00_welcome.ipynb", as_version=4)
    for cell in nb.cells:  # start without stored outputs, so everything seen is fresh
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, root / "00_welcome.ipynb")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
         f"--notebook-dir={root}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={TOKEN}", "--LabApp.expose_app_in_browser=True"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/api/status?token={TOKEN}", proc)
        yield base
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


KERNEL_READY = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session?.kernel;
    return Boolean(kernel && kernel.connectionStatus === "connected" && kernel.status === "idle");
}"""


def test_welcome_notebook_widgets_render_and_reach_the_kernel(lab, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{lab}/lab/tree/00_welcome.ipynb?token={TOKEN}")
    page.wait_for_function(KERNEL_READY, timeout=90_000)
    # fire and forget: the command's promise settles only when every cell has run
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.locator(".jp-OutputArea-output", has_text="all checks passed").wait_for(timeout=120_000)

    controls = page.locator(".jp-CodeCell", has_text="labkit.ui.controls(").first
    controls.scroll_into_view_if_needed()
    slider = controls.locator(".widget-hslider").first  # the log-scale learning-rate slider
    slider.wait_for(state="visible", timeout=30_000)
    assert "learning rate" in controls.inner_text()
    batch_size = controls.locator(".widget-dropdown select").first
    assert batch_size.input_value() is not None
    batch_size.select_option(label="128")

    # re-run the `ui.values()` cell: the kernel must see the batch size chosen in the browser
    cell = page.locator(".jp-CodeCell", has_text="ui.values()").first
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    cell.locator(".jp-OutputArea-output", has_text="'batch_size': 128").wait_for(timeout=30_000)
    page.close()
