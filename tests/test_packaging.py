"""Packaging: the namespace layout, imports without torch, editable and wheel installs."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, **kwargs) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, **kwargs
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_lattice_imports_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import leechkit.lattice, leechkit.cli\n"
        "assert leechkit.lattice.leech().dim == 24\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "print('ok')"
    )
    assert _run(code, cwd="/") == "ok"


def test_installed_package_maps_root_folders():
    import leechkit.lattice
    import leechkit.models

    assert Path(leechkit.lattice.__file__).resolve().parent == ROOT / "lattice"
    assert Path(leechkit.models.__file__).resolve().parent == ROOT / "models"
    # The root folders are not importable under their bare names from elsewhere.
    out = _run("import importlib.util as u; print(u.find_spec('lattice'), u.find_spec('models'))", cwd="/")
    assert out == "None None"


def test_wheel_contains_only_the_leechkit_namespace(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    if build.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{build.stderr}")
    wheel = next(tmp_path.glob("leechkit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert all(t == "leechkit" or t.startswith("leechkit-") for t in tops), tops
    assert "leechkit/lattice/lattices/leech.py" in names
    assert "leechkit/models/__init__.py" in names
    assert not any(n.startswith("leechkit/__init__") for n in names)  # a namespace

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = (
        f"import sys; sys.path.insert(0, {str(target)!r})\n"
        "import leechkit.lattice as lat, leechkit.models, leechkit.cli\n"
        "print(lat.__file__); print(lat.golay_code().weight_enumerator()[8])"
    )
    file_line, octads = _run(code, cwd="/").splitlines()
    assert file_line.startswith(str(target))
    assert octads == "759"
