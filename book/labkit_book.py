"""A Sphinx extension for the labkit book: each page loads each script once.

sphinx-thebe registers its inline configuration every time Sphinx reads documents (a page
that declares `const THEBE_JS_URL` twice stops with a SyntaxError in the browser), and
MathJax is added to a notebook's page twice.
"""

from __future__ import annotations

from typing import Any


def _dedupe_scripts(app: Any, page: str, template: str, context: dict, doctree: Any) -> None:
    seen, kept = set(), []
    for script in context.get("script_files", []):
        # the same inline script arrives once named None and once named ''
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"][:] = kept


def setup(app: Any) -> dict:
    # late, after the extensions that add scripts to the page (MathJax, widgets)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True}
