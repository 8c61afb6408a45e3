"""Documentation rules for the public API (what the API reference pages are built from).

For every public module of ``leechkit.lattice`` (all subpackages, found by walking the
package, so new modules such as the decoders are covered as they arrive) and of
``leechkit.cli`` and ``leechkit.models``:

* the module has a docstring, and every name in its ``__all__`` exists;
* every public class and function named in ``__all__``, and every public method and
  property defined on those classes, has a non-empty docstring of its own;
* where a docstring has a NumPy-style ``Parameters`` section, the names it lists are exactly
  the parameters of the signature (no stale or missing entries).

A module is public when no component of its dotted name starts with an underscore.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

import pytest

ROOTS = ("leechkit.lattice", "leechkit.cli", "leechkit.models")


def public_modules() -> list[str]:
    """Dotted names of the public modules under :data:`ROOTS`, the roots included."""
    names = []
    for root in ROOTS:
        package = importlib.import_module(root)
        names.append(root)
        for info in pkgutil.walk_packages(package.__path__, prefix=root + "."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return sorted(set(names))


MODULES = public_modules()


def unwrap(obj: object) -> object:
    """The plain Python function behind a cache wrapper or a Numba dispatcher."""
    if hasattr(obj, "py_func"):  # numba.njit
        return obj.py_func
    return getattr(obj, "__wrapped__", obj)


def documented_objects(module_name: str) -> Iterator[tuple[str, object]]:
    """``(qualified name, object)`` for the classes and functions the module exports, with the
    public methods and properties defined on the exported classes."""
    module = importlib.import_module(module_name)
    for name in getattr(module, "__all__", []):
        obj = unwrap(getattr(module, name))
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # constants: arrays, tuples, numbers
        yield f"{module_name}.{name}", obj
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if isinstance(value, (staticmethod, classmethod)):
                    value = value.__func__
                if isinstance(value, property):
                    yield f"{module_name}.{name}.{attr}", value.fget
                elif inspect.isfunction(value) or hasattr(value, "func"):  # incl. cached_property
                    yield f"{module_name}.{name}.{attr}", getattr(value, "func", value)


def own_docstring(obj: object) -> str:
    """The object's own docstring (not one inherited from a base class), dedented."""
    target = unwrap(obj)
    doc = target.__dict__.get("__doc__") if inspect.isclass(target) else getattr(target, "__doc__", None)
    return inspect.cleandoc(doc) if doc else ""


def parameters_section(doc: str) -> list[str] | None:
    """Names listed in a NumPy-style ``Parameters`` section, or None if there is none."""
    lines = doc.splitlines()
    for i in range(len(lines) - 1):
        if lines[i].strip() == "Parameters" and set(lines[i + 1].strip()) == {"-"}:
            names = []
            for j in range(i + 2, len(lines)):
                line = lines[j]
                nxt = lines[j + 1].strip() if j + 1 < len(lines) else ""
                if line.strip() and nxt and set(nxt) == {"-"}:
                    break  # the next section's title
                if line.strip() and not line.startswith((" ", "\t")):
                    head = line.split(":", 1)[0]
                    names += [n.strip().lstrip("*") for n in head.split(",") if n.strip()]
            return names
    return None


def signature_parameters(obj: object) -> list[str]:
    """Parameter names of a function, or of a class's ``__init__``, without self/cls."""
    target = unwrap(obj)
    if inspect.isclass(target):
        target = target.__init__
    return [p for p in inspect.signature(target).parameters if p not in ("self", "cls")]


def test_public_modules_found():
    assert "leechkit.lattice.codes" in MODULES
    assert "leechkit.lattice.lattices" in MODULES
    assert "leechkit.cli.main" in MODULES


@pytest.mark.parametrize("module_name", MODULES)
def test_module_docstring_and_all(module_name):
    module = importlib.import_module(module_name)
    assert (module.__doc__ or "").strip(), f"{module_name} has no module docstring"
    missing = [name for name in getattr(module, "__all__", []) if not hasattr(module, name)]
    assert not missing, f"{module_name}.__all__ names missing objects: {missing}"


@pytest.mark.parametrize("module_name", MODULES)
def test_public_objects_have_docstrings(module_name):
    undocumented = [name for name, obj in documented_objects(module_name) if not own_docstring(obj)]
    assert not undocumented, f"public objects without a docstring: {undocumented}"


@pytest.mark.parametrize("module_name", MODULES)
def test_parameters_sections_match_signatures(module_name):
    problems = []
    for name, obj in documented_objects(module_name):
        listed = parameters_section(own_docstring(obj))
        if listed is None:
            continue
        actual = signature_parameters(obj)
        if sorted(listed) != sorted(actual):
            problems.append(f"{name}: documents {listed}, signature has {actual}")
    assert not problems, "\n".join(problems)
