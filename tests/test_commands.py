"""`make lab` starts JupyterLab on notebooks/ at 127.0.0.1 and serves the notebook list."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from servers import free_port, get, stop, wait_for

ROOT = Path(__file__).parent.parent
TOKEN = "labkit-test-token"
pytestmark = pytest.mark.slow  # a JupyterLab server


def test_make_lab_serves_the_notebooks_on_localhost():
    port = free_port()
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"VENV={sys.prefix}", f"LAB_PORT={port}",
         f"LAB_ARGS=--IdentityProvider.token={TOKEN}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        listing = json.loads(wait_for(f"{base}/api/contents?token={TOKEN}", proc))
        names = {item["name"] for item in listing["content"]}
        assert {"00_welcome.ipynb", "03_training_pipeline.ipynb"} <= names
        assert b"JupyterLab" in get(f"{base}/lab?token={TOKEN}")
    finally:
        log = stop(proc)
    assert f"http://127.0.0.1:{port}/lab" in log  # the URL is printed for the user
