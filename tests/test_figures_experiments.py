"""Notebook 05 imports one module, `labkit.figures.experiments`: every name it offers is the
object of the module that holds it by idea, and every public function of those modules is
offered."""

import inspect

import pytest

from labkit.figures import experiments as fx
from labkit.figures import saving, seed_variance, sweep_figures, sweeps

MODULES = (sweeps, seed_variance, sweep_figures, saving)


def test_every_name_is_the_defining_modules_object():
    for name in fx.__all__:
        value = getattr(fx, name)
        assert any(getattr(m, name, None) is value for m in MODULES), name


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_public_function_is_offered(module):
    own = {name for name, value in vars(module).items() if not name.startswith("_")
           and (inspect.isfunction(value) or inspect.isclass(value))
           and value.__module__ == module.__name__}  # fmt: skip
    assert own <= set(fx.__all__), sorted(own - set(fx.__all__))
