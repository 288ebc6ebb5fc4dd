"""A catalog of realistic student bugs.

Each mutant is a small, named text change to one cell of a correct solution
style (``find`` must occur exactly once, so a mutant can never silently stop
applying), and declares the graded cells it must lose points on.
"""
from __future__ import annotations

import dataclasses

from .cells import read_style


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    style: str              # the correct solution it starts from
    cell: str               # the solution cell it changes
    find: str
    replace: str
    fails: tuple[str, ...]  # graded cells that must lose points
    about: str = ""

    def cells(self, source_nb=None) -> dict[str, str]:
        cells = read_style(self.style, source_nb)
        code = cells[self.cell]
        count = code.count(self.find)
        if count != 1:
            raise ValueError(f"mutant {self.name}: {self.find!r} occurs {count} times in {self.style}/{self.cell}")
        cells[self.cell] = code.replace(self.find, self.replace)
        return cells


CNN = ("test_simplecnn_forward", "test_simplecnn_training")

CATALOG: list[Mutant] = [
    Mutant("flipped_kernel", "loops", "conv2d_op",
           "out[n, f, i, j] = (patch * w[f]).sum()", "out[n, f, i, j] = (patch * w[f, :, ::-1, ::-1]).sum()",
           ("test_conv2d_forward",) + CNN, "true convolution instead of cross-correlation"),
    Mutant("maxpool_default_stride_1", "loops", "maxpool2d",
           "self.stride = _pair(stride) if stride is not None else self.kernel",
           "self.stride = _pair(stride) if stride is not None else (1, 1)",
           ("test_maxpool2d_forward", "test_maxpool2d_backward", "test_simplecnn_structure") + CNN,
           "MaxPool2d's stride defaults to 1 instead of the kernel size"),
    Mutant("avgpool_divides_by_4", "loops", "avgpool2d",
           "out[n, c, i, j] = padded[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw].mean()",
           "out[n, c, i, j] = padded[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw].sum() / 4",
           ("test_avgpool2d_forward",), "AvgPool2d always divides by 4"),
    Mutant("bias_grad_first_item", "loops", "conv2d_op",
           "db = grad_out.sum(axis=(0, 2, 3)) if has_bias else None",
           "db = grad_out[0].sum(axis=(1, 2)) if has_bias else None",
           ("test_conv2d_backward", "test_simplecnn_training"), "bias gradient only from the first batch item"),
]

BY_NAME = {m.name: m for m in CATALOG}
