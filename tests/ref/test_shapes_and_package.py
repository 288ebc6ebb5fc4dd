"""Shape helpers, the package's exports, no torch at runtime, and the benchmark's report."""
import os
import re
import subprocess
import sys

import pytest

import tinytorch_ref.spatial as spatial
from tinytorch_ref.spatial import conv_output_size, receptive_field

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("args, expected", [
    ((32, 3, 1, 1), 32),     # "same" 3x3 convolution
    ((7, 3, 2, 0), 3),       # (7 - 3) // 2 + 1
    ((5, 2, 3, 1), 2),       # (5 + 2 - 2) // 3 + 1 = 5 // 3 + 1
    ((32, 2, 2, 0), 16),     # 2x2 pooling halves
    ((28, 5, 1, 0), 24),
    ((8, 3, 3, 0), 2),       # floor: (8 - 3) / 3 = 1.67
    ((4, 6, 1, 1), 1),       # kernel == padded input
])
def test_conv_output_size(args, expected):
    assert conv_output_size(*args) == expected


@pytest.mark.parametrize("layers, kernel, expected", [(1, 3, 3), (2, 3, 5), (3, 3, 7), (2, 5, 9), (0, 3, 1)])
def test_receptive_field(layers, kernel, expected):
    assert receptive_field(layers, kernel) == expected


def test_package_exports():
    for name in ["Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "SimpleCNN", "count_parameters",
                 "conv_output_size", "receptive_field", "Conv2dFunction", "MaxPool2dFunction",
                 "AvgPool2dFunction", "naive", "fast"]:
        assert name in spatial.__all__ and hasattr(spatial, name), name


def test_runtime_code_does_not_import_torch():
    """torch is a test oracle only: importing the package (and the benchmark module) must not load it."""
    code = ("import sys, numpy as np\n"
            "import tinytorch_ref, tinytorch_ref.spatial, tinytorch_ref.bench\n"
            "from tinytorch_ref.spatial import SimpleCNN\n"
            "SimpleCNN(in_channels=1, image_size=8)(np.zeros((1, 1, 8, 8)))\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_benchmark_prints_a_report_and_exits_0():
    """One quick run (1 repeat, batch 4, naive at batch 1): a table with timings and PASS/FAIL verdicts."""
    result = subprocess.run(
        [sys.executable, "-m", "tinytorch_ref.bench", "--repeats", "1", "--batch", "4", "--naive-batch", "1",
         "--naive-repeats", "1"],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "threads: numpy BLAS = 1" in out and "torch = 1" in out and "batch 4:" in out
    for op in ("conv1", "conv2", "maxpool1", "maxpool2"):
        assert out.count(op) == 2, op          # one row in each table
    assert out.count("PASS") + out.count("FAIL") == 6   # 2 conv-vs-torch + 4 fast-vs-naive verdicts
    rows = [line for line in out.splitlines() if re.match(r"(conv|maxpool)\d +x\(", line)]
    assert len(rows) == 4                               # the fast-vs-torch table, with page faults fast/torch
    assert all(re.search(r" \d+/\d+  ", row) for row in rows), rows
