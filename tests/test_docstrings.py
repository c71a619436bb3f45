"""The API documents itself: every option setter names the braid_SetX it
calls and its default, and every public name of the bindings has a docstring."""
import re

import pytest

import pyxbraid

SETTERS = sorted(name for name in dir(pyxbraid.Core) if name.startswith("set_"))


@pytest.mark.parametrize("name", SETTERS)
def test_every_setter_names_its_braid_call_and_default(name):
    doc = getattr(pyxbraid.Core, name).__doc__ or ""
    assert re.search(r"braid_Set\w+", doc), name
    assert "default" in doc, name


def test_every_option_has_a_setter_and_a_documented_default():
    options = pyxbraid.Core.__doc__
    for name in pyxbraid.Core(pyxbraid.NumpyApp(), ntime=2).options:
        if name in ("abs_tol", "rel_tol"):
            continue
        assert f"set_{name}" in SETTERS, name
        assert name in options, name


@pytest.mark.parametrize("obj", [pyxbraid.Core, pyxbraid.App, pyxbraid.NumpyApp,
                                 pyxbraid.StepStatus, pyxbraid.AccessStatus,
                                 pyxbraid.SyncStatus, pyxbraid.BufferStatus,
                                 pyxbraid.StepBatchStatus,
                                 pyxbraid.split_commworld])
def test_public_names_have_docstrings(obj):
    assert obj.__doc__ and obj.__doc__.strip()
    if not isinstance(obj, type):
        return
    for name in dir(obj):
        if not name.startswith("_"):
            member = getattr(obj, name)
            if member is None:  # an optional app method: the class docstring says
                assert any(name in (base.__doc__ or "") for base in obj.__mro__), \
                    f"{obj.__name__}.{name}"
            else:
                assert (member.__doc__ or "").strip(), f"{obj.__name__}.{name}"
