"""JupyterLab in a real browser: what a learner does — run, move widgets, press Train.

Skipped where no Chromium is installed (`.ci/run` installs it with apt-get); the
playwright wheel drives the system Chromium and never downloads a browser.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
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
    # Serve copies: the browser session may autosave, and must never touch the repository.
    root = tmp_path_factory.mktemp("lab")
    for name in (
        "00_welcome.ipynb",
        "01_gradient_descent.ipynb",
        "02_optimizers.ipynb",
        "03_training_pipeline.ipynb",
        "04_generalization.ipynb",
    ):
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        for cell in nb.cells:  # start without stored outputs, so everything seen is fresh
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, root / name)
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


KERNEL_IDLE = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session?.kernel;
    return Boolean(kernel && kernel.connectionStatus === "connected" && kernel.status === "idle");
}"""
# Every code cell has run and the kernel is idle (read from the notebook model, which,
# unlike the page, holds every cell: JupyterLab renders only the cells near the viewport).
ALL_RAN = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.model.cells;
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type === "code" && !cell.executionCount) return false;
    }
    return panel.sessionContext.session.kernel.status === "idle";
}"""
# The text outputs of the first cell whose source contains `needle`.
CELL_TEXT = """(needle) => {
    const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== "code" || !cell.sharedModel.getSource().includes(needle)) continue;
        return cell.outputs.toJSON().map(o => [].concat(o.text || "",
            (o.data && o.data["text/plain"]) || "", o.ename ? o.ename + ": " + o.evalue : "")
            .join("")).join("");
    }
    return null;
}"""
# A short fingerprint of every image in an element, to see it change.
IMAGES = """(el) => Array.from(el.querySelectorAll("img")).map(img => {
    let h = 0;
    for (let i = 0; i < img.src.length; i += 7) h = (h * 31 + img.src.charCodeAt(i)) | 0;
    return h;
})"""


def _open_and_run_all(browser, lab, name):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # A workspace of its own, reset: JupyterLab would otherwise reopen the tabs of the last
    # page, and the notebook in front might not be this one.
    page.goto(f"{lab}/lab/workspaces/{Path(name).stem}/tree/{name}?reset&token={TOKEN}")
    page.wait_for_function(KERNEL_IDLE, timeout=90_000)
    # fire and forget: the command's promise settles only when every cell has run
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(ALL_RAN, timeout=180_000, polling=500)
    return page


def _cell(page, needle):
    cell = page.locator(".jp-CodeCell", has_text=needle).first
    cell.scroll_into_view_if_needed()
    return cell


def _rerun(page, needle, expect, timeout=60_000):
    """Run the cell holding `needle` again, as a learner does, and wait for `expect` in its
    output (read from the notebook model)."""
    _cell(page, needle).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(
        "([n, e]) => ((" + CELL_TEXT + ")(n) || '').includes(e)",
        arg=[needle, expect],
        timeout=timeout,
    )


def _press(page, needle, button, expect, timeout=120_000):
    """Press `button` under the cell holding `needle`; return its output once it shows `expect`."""
    cell = _cell(page, needle)
    cell.locator("button", has_text=button).click()
    output = cell.locator(".jp-OutputArea-output").first
    deadline = time.monotonic() + timeout / 1000
    while expect not in (text := output.inner_text()):
        assert "Error" not in text and time.monotonic() < deadline, f"unfinished: {text!r}"
        time.sleep(0.2)
    return output


def test_welcome_widgets_reach_the_kernel_and_checks_hold_after_moving_them(lab, browser):
    page = _open_and_run_all(browser, lab, "00_welcome.ipynb")
    assert "all checks passed" in page.evaluate(CELL_TEXT, "assert tuple(int(p)")

    controls = _cell(page, "labkit.ui.controls(")
    slider = controls.locator(".widget-hslider").first  # the learning-rate slider
    slider.wait_for(state="visible", timeout=30_000)
    assert "learning rate" in controls.inner_text()
    assert controls.locator(".widget-readout").first.inner_text().strip() == "0.003"
    controls.locator(".widget-dropdown select").first.select_option(label="128")

    # What the notebook tells the learner to do: move a widget, re-run the cells below it.
    _cell(page, "ui.values()").locator(".jp-InputArea-editor").click()
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-below'); }")
    page.wait_for_function(
        "() => (" + CELL_TEXT + ")('ui.values()').includes(\"'batch_size': 128\")", timeout=30_000
    )
    page.wait_for_function(ALL_RAN, timeout=120_000, polling=500)
    checks = page.evaluate(CELL_TEXT, "assert tuple(int(p)")
    assert "all checks passed" in checks, checks
    page.close()


def test_pipeline_train_button_redraws_its_plot_through_the_last_epoch(lab, browser):
    page = _open_and_run_all(browser, lab, "03_training_pipeline.ipynb")
    checks = page.evaluate(CELL_TEXT, "assert same_as_by_hand")
    assert "all checks passed" in checks, checks

    controls = _cell(page, "labkit.ui.controls(")
    controls.locator(".widget-hslider").first.wait_for(state="visible", timeout=30_000)
    controls.locator(".widget-dropdown select").nth(1).select_option(label="sgd")  # optimizer

    cell = _cell(page, "labkit.ui.run_button(")
    cell.locator("button", has_text="Train").click()
    output = cell.locator(".jp-OutputArea-output").first
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while "15 epochs: val accuracy" not in (text := output.inner_text()):
        seen.update(output.evaluate(IMAGES))
        assert "Error" not in text and time.monotonic() < deadline, (
            f"Train did not finish: {text!r}"
        )
        time.sleep(0.1)
    seen.update(output.evaluate(IMAGES))
    text = output.inner_text()
    # The widgets' settings, exactly (the slider used to send back 3.2e-3 for 3e-3) ...
    assert "sgd, lr=0.003, batch size 32, 15 epochs: val accuracy" in text, text
    # ... and the plot under the button, redrawn live and after the last epoch: the caption
    # shown with the current image says so.
    assert "epoch 15/15 · train loss" in text, text
    assert len(output.evaluate(IMAGES)) == 1, "one live figure, replaced in place"
    assert len(seen) >= 2, "the figure under the button was never redrawn"
    page.close()


def test_gradient_descent_widgets_change_the_race(lab, browser):
    page = _open_and_run_all(browser, lab, "01_gradient_descent.ipynb")
    controls = _cell(page, "steps_slider = widgets.IntSlider(")
    controls.locator(".widget-dropdown select").first.select_option(label="64")  # batch size
    _rerun(page, "race = settings()", "mini-batch (B = 64)")
    page.close()


def test_optimizers_widgets_drive_both_buttons(lab, browser):
    page = _open_and_run_all(browser, lab, "02_optimizers.ipynb")
    controls = _cell(page, "schedule_menu = widgets.Dropdown(")
    controls.locator(".widget-dropdown select").nth(1).select_option(label="rmsprop")
    # choosing an optimizer moves the learning-rate slider to a rate that suits it (the
    # kernel's observer sets it: a round trip)
    readout = controls.locator(".widget-readout").first
    readout.filter(has_text="0.001").wait_for(timeout=30_000)
    bowl = _press(page, "def draw_on_bowl", "Draw on the bowl", "")
    bowl.locator("img").first.wait_for(timeout=60_000)  # the path of the chosen optimizer
    assert "Error" not in bowl.inner_text()
    trained = _press(page, "def train_with_widgets", "Train", "val accuracy")
    assert "rmsprop, lr 0.001" in trained.inner_text()
    page.close()


def test_generalization_regularization_sliders_reach_the_train_button(lab, browser):
    page = _open_and_run_all(browser, lab, "04_generalization.ipynb")
    controls = _cell(page, "decay_slider = widgets.SelectionSlider(")
    decay = controls.locator(".widget-hslider", has_text="weight decay")
    decay.locator(".widget-readout").filter(has_text=re.compile(r"\d")).wait_for(timeout=30_000)
    before = decay.locator(".widget-readout").inner_text().strip()
    decay.locator(".noUi-handle").focus()
    page.keyboard.press("ArrowRight")  # one stop up, as a learner does with the keyboard
    after = decay.locator(".widget-readout").inner_text().strip()
    assert float(after) > float(before), (before, after)
    _rerun(page, "settings = dataclasses.replace(config", f"weight decay {after}")
    output = _press(page, "def train_with_widgets", "Train", "regularized")
    assert "no regularization" in output.inner_text()
    page.close()
