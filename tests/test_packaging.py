"""The project's own files install everything: pyproject, environment.yml, Makefile agree."""

import subprocess
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parent.parent


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    packages = [line for line in pip if not line.startswith("-")]
    assert packages == project["dependencies"]
    assert "python=3.11" in env["dependencies"]


def test_postbuild_installs_labkit_itself():
    post = ROOT / "postBuild"
    assert "pip install --no-deps -e ." in post.read_text()
    assert post.stat().st_mode & 0o111, "postBuild must be executable"


def test_torch_is_pinned_and_overridable():
    makefile = (ROOT / "Makefile").read_text()
    assert "TORCH_SPEC ?= torch==2.13.0" in makefile
    assert '"$(TORCH_SPEC)"' in makefile


def test_existing_environment_is_not_reinstalled():
    # `make -q` exits 0 only when the target is up to date, i.e. nothing would be reinstalled.
    stamp = Path(sys.prefix) / ".labkit-installed"
    assert stamp.exists(), "run the suite through `make test`, which installs the environment"
    result = subprocess.run(
        ["make", "-q", "install", f"VENV={sys.prefix}"], cwd=ROOT, capture_output=True
    )
    assert result.returncode == 0, "an installed .venv should be left alone"
