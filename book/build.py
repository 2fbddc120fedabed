"""Build the course website from notebooks/ with Jupyter Book 1.x, offline (`make book`).

    python book/build.py [--strict] [--out book]

Nothing is executed: the pages show the outputs stored in the notebooks. Before building,
the configuration gets the repository's address for the launch and repository buttons
($LABKIT_REPOSITORY, else the git remote `origin`, else what book/_config.yml says), and
the pages' scripts (the widget manager, MathJax) are vendored from npm into
book/_static/vendor/ so that the site works offline (where npm is missing, the pages load
them from jsDelivr as Jupyter Book does by default). `--strict` turns every warning into an error.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
VENDOR = BOOK / "_static" / "vendor"
# Scripts the pages load, vendored from npm so that the site works offline: require.js and
# the widget manager's embed bundle (the core widgets, their icon fonts) for the saved
# widgets, and MathJax (its fonts found beside it) for the equations.
# {npm package: ((file pattern in the package, folder under vendor/), ...)}
PACKAGES = {
    "requirejs@2.3.7": (("require.js", "."),),
    "@jupyter-widgets/html-manager@1.0.15": (
        *(
            (f"dist/{p}", ".")
            for p in ("embed-amd.js", "*.woff2", "*.woff", "*.ttf", "*.eot", "*.svg")
        ),
    ),
    "mathjax@3.2.2": (
        ("es5/tex-mml-chtml.js", "mathjax"),
        ("es5/output/chtml/fonts/woff-v2/*", "mathjax/output/chtml/fonts/woff-v2"),
    ),
}
MARKER = VENDOR / ".complete"
WEB = re.compile(r"https://[^/\s]+/[^/\s]+/[^/\s]+")  # a repository's web address


def repository() -> str | None:
    """The repository's https address (https://HOST/OWNER/NAME, what the launch buttons need):
    $LABKIT_REPOSITORY, else git's `origin` where it is such an address (or its ssh form),
    else None (a clone of a local folder, say)."""
    if os.environ.get("LABKIT_REPOSITORY"):
        url = os.environ["LABKIT_REPOSITORY"].removesuffix("/")
        if not WEB.fullmatch(url):
            sys.exit(
                f"book: LABKIT_REPOSITORY must look like https://github.com/OWNER/NAME; got {url}"
            )
        return url
    found = subprocess.run(["git", "-C", str(ROOT), "remote", "get-url", "origin"],
                           capture_output=True, text=True)  # fmt: skip
    url = found.stdout.strip()
    ssh = re.fullmatch(r"git@([^:]+):(.+?)(\.git)?", url)  # git@github.com:owner/labkit.git
    url = f"https://{ssh[1]}/{ssh[2]}" if ssh else url.removesuffix(".git")
    return url if WEB.fullmatch(url) else None


def vendor() -> bool:
    """Unpack the pages' scripts into book/_static/vendor/ once; False where npm fails."""
    if MARKER.exists():
        return True
    if shutil.which("npm") is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        for spec, files in PACKAGES.items():
            packed = subprocess.run(["npm", "pack", "--silent", spec], cwd=tmp,
                                    capture_output=True, text=True)  # fmt: skip
            if packed.returncode:
                print(f"book: npm pack {spec} failed, the pages load it from its CDN\n"
                      f"{packed.stderr[-500:]}")  # fmt: skip
                return False
            with tarfile.open(Path(tmp) / packed.stdout.split()[-1]) as tar:
                tar.extractall(tmp, filter="data")
            package = Path(tmp) / "package"
            for pattern, folder in files:
                (VENDOR / folder).mkdir(parents=True, exist_ok=True)
                for path in package.glob(pattern):
                    shutil.copy2(path, VENDOR / folder / path.name)
            shutil.rmtree(package)
    MARKER.touch()
    return True


def config(out: Path) -> Path:
    """book/_config.yml with the repository's address and the widget scripts filled in."""
    settings = yaml.safe_load((BOOK / "_config.yml").read_text())
    url = repository()
    if url:
        settings["repository"]["url"] = url
    if vendor():
        sphinx = settings.setdefault("sphinx", {}).setdefault("config", {})
        sphinx["html_static_path"] = ["book/_static"]
        sphinx["mathjax_path"] = "vendor/mathjax/tex-mml-chtml.js"
        cdn = {"data-jupyter-widgets-cdn": "https://cdn.jsdelivr.net/npm/"}
        sphinx["nb_ipywidgets_js"] = {  # in this order: require.js, its paths, the manager
            "vendor/require.js": {}, "widgets-path.js": {}, "vendor/embed-amd.js": cdn}  # fmt: skip
    settings.setdefault("sphinx", {})["local_extensions"] = {"labkit_book": str(BOOK)}
    path = out / "_config.yml"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="warnings are errors")
    parser.add_argument("--out", default=str(BOOK), help="the build goes to OUT/_build/html")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(ROOT),
               "--config", str(config(out / "_build")), "--toc", str(BOOK / "_toc.yml"),
               "--path-output", str(out), "--all"]  # fmt: skip
    if args.strict:
        command += ["-W", "-n", "--keep-going"]
    code = subprocess.run(command, cwd=ROOT).returncode
    if code == 0:
        icon_on_the_redirect(out / "_build" / "html")
    sys.exit(code)


def icon_on_the_redirect(html: Path) -> None:
    """Jupyter Book's root index.html only redirects to the first page. Without an icon link
    there, a browser asks the server for /favicon.ico, which the site does not have (a 404
    in every visitor's console): point it at the book's own icon."""
    index = html / "index.html"
    text = index.read_text()
    if 'rel="icon"' not in text:
        index.write_text(f'<link rel="icon" href="_static/favicon.svg" />\n{text}')


if __name__ == "__main__":
    main()
