"""The course website: every chapter is a page built from notebooks/ with no warnings, the
glossary and the chapters link both ways, and in Chromium every page renders its figures
and widgets with no console error, and search finds terms in English and in Chinese."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest
import yaml

from servers import free_port, stop, wait_for

ROOT = Path(__file__).parent.parent
BOOK = ROOT / "book"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "book"
GLOSSARY_LINK = re.compile(r"\]\(\.\./book/glossary\.md(?:#([\w-]+))?\)")


def _glossary() -> dict[str, set[str]]:
    """The glossary's terms by anchor, each with the notebooks its entry links to."""
    entries, anchor = {}, None
    for line in (BOOK / "glossary.md").read_text().splitlines():
        if line.startswith("## "):
            anchor = re.sub(r"[^\w\- ]", "", line[3:].lower()).strip().replace(" ", "-")
            entries[anchor] = set()
        elif anchor and line.startswith("Taught in "):
            entries[anchor] = set(re.findall(r"\(\.\./notebooks/(\w+)\.ipynb\)", line))
    return entries


def _links_from(notebook: Path) -> set[str]:
    """The glossary anchors a notebook's first cell links to."""
    first = nbformat.read(notebook, as_version=4).cells[0].source
    return {m for m in GLOSSARY_LINK.findall(first) if m}


def test_glossary_and_chapters_link_both_ways():
    entries = _glossary()
    assert len(entries) >= 30
    for entry in (BOOK / "glossary.md").read_text().split("\n## ")[1:]:
        term = entry.splitlines()[0]  # its Chinese name in bold beside it (ONNX is a name)
        assert re.search(r"\n\*\*[\u4e00-\u9fff]", entry) or term == "ONNX", term
    from_glossary = {(a, nb) for a, nbs in entries.items() for nb in nbs}
    from_notebooks = {(a, nb.stem) for nb in NOTEBOOKS for a in _links_from(nb)}
    assert from_notebooks == from_glossary
    for notebook in NOTEBOOKS:  # every chapter links to the glossary
        first = nbformat.read(notebook, as_version=4).cells[0].source
        assert GLOSSARY_LINK.search(first), notebook.name


def test_the_table_of_contents_holds_every_chapter_once():
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert len(files) == len(set(files))
    assert {f"notebooks/{nb.stem}" for nb in NOTEBOOKS} <= set(files)
    assert all((ROOT / f).with_suffix(".md").exists() for f in files if f.startswith("book/"))


def _build_module():
    spec = importlib.util.spec_from_file_location("book_build", BOOK / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("origin", "address"),
    [
        ("https://github.com/someone/labkit.git", "https://github.com/someone/labkit"),
        ("git@github.com:someone/labkit.git", "https://github.com/someone/labkit"),
        ("/home/someone/labkit", None),  # a clone of a local folder: the buttons keep _config's
    ],
)
def test_the_repository_address_comes_from_origin_when_it_is_a_web_address(
    tmp_path, monkeypatch, origin, address
):
    build = _build_module()
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", origin], check=True)
    monkeypatch.setattr(build, "ROOT", tmp_path)
    monkeypatch.delenv("LABKIT_REPOSITORY", raising=False)
    assert build.repository() == address
    monkeypatch.setenv("LABKIT_REPOSITORY", "https://github.com/other/kit/")
    assert build.repository() == "https://github.com/other/kit"
    monkeypatch.setenv("LABKIT_REPOSITORY", "other/kit")
    with pytest.raises(SystemExit, match="LABKIT_REPOSITORY must look like"):
        build.repository()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The book built with warnings as errors (as `make book` builds it, but strict)."""
    pytest.importorskip("jupyter_book", reason="the book extra: pip install -e '.[book]'")
    out = tmp_path_factory.mktemp("book")
    done = subprocess.run([sys.executable, str(BOOK / "build.py"), "--strict", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return out / "_build" / "html"


@pytest.mark.slow
def test_every_chapter_is_a_page_with_its_outputs_and_launch_buttons(site):
    for notebook in NOTEBOOKS:
        page = (site / "notebooks" / f"{notebook.stem}.html").read_text()
        assert "Traceback (most recent call last)" not in page, notebook.name
        assert "Widget Javascript not detected" not in page, notebook.name
        assert 'class="cell_output' in page, f"{notebook.name} shows no stored output"
        for host in ("mybinder.org/v2/gh/", "colab.research.google.com/github/"):
            assert f"{host}" in page and f"notebooks/{notebook.name}" in page
        nb = nbformat.read(notebook, as_version=4)
        if any("parameters" in c.metadata.get("tags", []) for c in nb.cells):
            assert "out_dir" in page  # the parameters cell is shown
    assert (site / "book" / "glossary.html").exists() and (site / "book" / "running.html").exists()
    # the root page only redirects: it names the icon, or browsers ask for a /favicon.ico
    icon = re.search(r'rel="icon" href="([^"]+)"', (site / "index.html").read_text())
    assert icon and (site / icon.group(1)).is_file()


CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def served(site):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(site)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/index.html", proc)
        yield base
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def page(served):
    from test_browser import CHROMIUM  # skipped there too where no Chromium exists

    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (apt-get install -y chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.problems = []  # console errors, page errors, failed or refused requests
        page.on("console", lambda m: m.type == "error" and page.problems.append(
            f"{m.text} ({m.location.get('url')})"))  # fmt: skip
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        page.on("requestfailed", lambda r: r.failure != "net::ERR_ABORTED"  # left by a redirect
                and page.problems.append(f"failed {r.url} ({r.failure})"))  # fmt: skip
        page.on(
            "response", lambda r: r.status >= 400 and page.problems.append(f"{r.status} {r.url}")
        )
        yield page
        browser.close()


def _visit(page, url: str) -> None:
    page.problems.clear()
    page.goto(url, wait_until="networkidle")


@pytest.mark.slow
def test_every_page_renders_in_chromium_with_no_error(page, served):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _visit(page, served + "/index.html")  # redirects to the introduction
    page.wait_for_url("**/book/intro.html")
    links = page.eval_on_selector_all("nav.bd-links a", "els => els.map(a => a.href)")
    nav = {unquote(urlparse(a).path).rsplit("/", 1)[-1] for a in links}
    assert {f"{nb.stem}.html" for nb in NOTEBOOKS} <= nav
    assert not page.problems, page.problems
    page.screenshot(path=ARTIFACTS / "intro.png")
    for notebook in NOTEBOOKS:
        _visit(page, f"{served}/notebooks/{notebook.stem}.html")
        broken = page.evaluate("() => [...document.images].filter(i => !(i.complete && "
                               "i.naturalWidth > 0)).map(i => i.src)")  # fmt: skip
        assert not broken, (notebook.name, broken)
        nb = nbformat.read(notebook, as_version=4)
        widgets = sum("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                      for c in nb.cells if c.cell_type == "code" for o in c.outputs)  # fmt: skip
        if widgets:  # the saved widget state renders as widgets, offline
            page.locator(".jupyter-widgets").first.wait_for(timeout=20_000)
        assert not page.problems, (notebook.name, page.problems)
        page.screenshot(path=ARTIFACTS / f"{notebook.stem}.png")


@pytest.mark.slow
def test_glossary_links_resolve_both_ways_in_the_browser(page, served):
    chapter = next(nb for nb in NOTEBOOKS if _links_from(nb))
    anchor = sorted(_links_from(chapter))[0]
    _visit(page, f"{served}/notebooks/{chapter.stem}.html")
    page.locator(f'a[href$="glossary.html#{anchor}"]').first.click()
    page.wait_for_url(f"**/book/glossary.html#{anchor}")
    assert page.locator(f'[id="{anchor}"]').count() == 1
    entry = page.locator(f'section[id="{anchor}"]')
    entry.locator(f'a[href$="{chapter.stem}.html"]').first.click()
    page.wait_for_url(f"**/notebooks/{chapter.stem}.html")
    assert not page.problems, page.problems


@pytest.mark.parametrize("term", ["overfitting", "梯度下降"])
@pytest.mark.slow
def test_search_finds_a_term_in_english_and_in_chinese(page, served, term):
    _visit(page, f"{served}/search.html?q={term}")
    results = page.locator("#search-results li")
    results.first.wait_for(timeout=20_000)
    assert any(
        "glossary.html" in a
        for a in page.eval_on_selector_all("#search-results li a", "els => els.map(a => a.href)")
    )
    page.screenshot(path=ARTIFACTS / f"search-{'en' if term.isascii() else 'zh'}.png")
