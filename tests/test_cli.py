"""The leechkit command line."""

import numpy as np
import pytest

from leechkit.cli.main import lattice_by_name, main


def test_info_prints_computed_table(capsys):
    assert main(["info", "--lattices", "z2", "d4", "e8", "--max-norm", "4"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line[:1].isalnum()}
    assert lines["E8"][1:5] == ["8", "1", "2", "240"]
    assert lines["D4"][1:5] == ["4", "4", "2", "24"]
    assert lines["Z2"][1:5] == ["2", "1", "1", "4"]
    assert "1, 240, 2160" in out


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_vectors_writes_minimal_vectors(tmp_path, suffix, capsys):
    path = tmp_path / f"e8{suffix}"
    assert main(["vectors", "e8", "-o", str(path)]) == 0
    vecs = np.load(path) if suffix == ".npy" else np.loadtxt(path, delimiter=",")
    assert vecs.shape == (240, 8)
    assert np.allclose((vecs**2).sum(axis=1), 2)
    assert "240 minimal vectors" in capsys.readouterr().out


def test_vectors_leech_integer_npy(tmp_path):
    path = tmp_path / "leech.npy"
    assert main(["vectors", "leech", "--integer", "-o", str(path)]) == 0
    vecs = np.load(path)
    assert vecs.shape == (196560, 24) and vecs.dtype == np.int8


def test_bad_arguments_exit_with_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["vectors", "e8", "-o", str(tmp_path / "x.txt")])
    assert exc.value.code == 2 and ".npy or .csv" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown lattice"):
        lattice_by_name("a7")
