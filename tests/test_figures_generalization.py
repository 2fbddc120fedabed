"""Notebook 04 imports one module, `labkit.figures.generalization`: every name it offers is
the object of the module that holds it by idea, and every public function of those modules
is offered."""

import inspect

import pytest

from labkit.figures import (
    capacity,
    crossval_report,
    fitting,
    generalization_setup,
    regularization,
    saving,
)
from labkit.figures import generalization as fg

MODULES = (fitting, capacity, regularization, crossval_report, saving, generalization_setup)


def test_every_name_is_the_defining_modules_object():
    for name in fg.__all__:
        value = getattr(fg, name)
        homes = [m for m in MODULES if getattr(m, name, None) is value]
        assert homes, f"{name} is not taken from one of {[m.__name__ for m in MODULES]}"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_public_function_is_offered(module):
    own = {name for name, value in vars(module).items() if not name.startswith("_")
           and (inspect.isfunction(value) or inspect.isclass(value))
           and value.__module__ == module.__name__}  # fmt: skip
    assert own <= set(fg.__all__), sorted(own - set(fg.__all__))
