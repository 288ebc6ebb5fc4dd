"""End to end: SimpleCNN from tinytorch_ref trained on scikit-learn's digits (tinytorch_ref.train_digits).

The full run with the command's defaults (``make train``: 15 epochs, seed 0) must reach the course's
0.97 held-out accuracy bar; it is a ``long`` test (``make test-long``, outside ``make test``).  A run
cut short by a time budget stays in ``make test``: it checks that training starts, learns and stops.
"""
import struct

import numpy as np
import pytest

from tinytorch_ref import train_digits

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


@pytest.mark.long
@pytest.mark.timeout(180)
def test_make_train_reaches_97_percent_and_writes_the_plots(tmp_path):
    result = train_digits.train(seed=0, out_dir=str(tmp_path), progress=False)   # the command's defaults

    assert result["accuracy"] >= 0.97, result["accuracies"]
    assert result["epochs"] == train_digits.DEFAULT_EPOCHS == 15 and not result["stopped_early"]
    assert len(result["losses"]) == len(result["accuracies"]) == 15
    assert result["losses"][-1] < 0.5 * result["losses"][0], result["losses"]
    assert result["parameters"] == 32 * 9 + 32 + 64 * 32 * 9 + 64 + 64 * 2 * 2 * 10 + 10 == 21386
    assert result["held_out"] == 360

    import matplotlib.image
    assert set(result["paths"]) == {"curves", "feature_maps"}
    for name, path in result["paths"].items():
        assert path.startswith(str(tmp_path))
        width, height = png_size(path)
        assert width >= 400 and height >= 250, (name, width, height)
        image = matplotlib.image.imread(path)
        assert image.shape[:2] == (height, width)
        assert image.std() > 0.05, f"{name} looks blank"      # not a flat image
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    assert (tmp_path / "feature_maps.png").stat().st_size > 10_000


@pytest.mark.slow
def test_budget_stops_training_early():
    result = train_digits.train(epochs=100, seed=1, out_dir=None, budget_seconds=0.5, progress=False)
    assert result["stopped_early"]
    assert 1 <= result["epochs"] < 100
    assert len(result["losses"]) == len(result["accuracies"]) == result["epochs"]
    assert result["paths"] == {}


@pytest.mark.slow
def test_a_budgeted_run_learns():
    result = train_digits.train(epochs=3, seed=0, out_dir=None, budget_seconds=3.0, progress=False)
    assert 1 <= result["epochs"] <= 3 and result["held_out"] == 360
    # ten classes: chance is 0.1; even one partial epoch of SGD on digits is far above it
    assert result["accuracy"] > 0.5, result["accuracies"]
    assert 0.0 <= result["accuracy"] <= 1.0


def test_random_shift_moves_each_image_by_at_most_one_pixel():
    rng = np.random.default_rng(0)
    x = rng.random((50, 1, 8, 8)).astype(np.float32)
    shifted = train_digits.random_shift(x, np.random.default_rng(1))
    assert shifted.shape == x.shape and shifted.dtype == x.dtype
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for original, moved in zip(padded, shifted):
        candidates = [original[:, i:i + 8, j:j + 8] for i in range(3) for j in range(3)]
        assert any(np.array_equal(moved, c) for c in candidates)


@pytest.mark.slow
def test_cli_prints_accuracy_time_and_parameters(tmp_path, capsys):
    assert train_digits.main(["--epochs", "1", "--seed", "3", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy: " in out and "wall time: " in out and "parameters: 21,386" in out
    assert (tmp_path / "out" / "curves.png").exists() and (tmp_path / "out" / "feature_maps.png").exists()
