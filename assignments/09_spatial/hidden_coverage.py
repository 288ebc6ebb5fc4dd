"""The coverage model of the hidden checks: what they must exercise, cell by cell.

For every graded API of the assignment, the model lists the values each argument must be
exercised with (every default and non-default, int and ``(h, w)`` forms), and for the window
operations (Conv2d, MaxPool2d, AvgPool2d), forward and backward separately and per axis, the
regimes of the window arithmetic ``out = (size + 2P - K) // S + 1``:

* the remainder ``(size + 2P - K) mod S`` is 0, in ``(0, P]``, or ``> P`` (then the last input
  rows or columns are covered by no window: their gradient is exactly 0);
* the kernel equals the padded input; the kernel is 1; stride > kernel (gaps between windows);
  stride < kernel (overlapping windows);
* padding 0, > 0, and the largest allowed (pooling: ``K // 2``; Conv2d: ``K - 1``, the largest
  padding at which every window still sees an input value);

and for the whole call: batch 1, one channel, one filter, a non-square input, and an
asymmetric kernel, stride and padding each on its own.  ``python -m grader coverage`` checks
the hidden checks against it (grader/harness/coverage.py).
"""
from __future__ import annotations

from grader.harness.coverage import Call, Cell

WINDOW_OPS = ("Conv2d", "MaxPool2d", "AvgPool2d")
GRADED_APIS = ["conv_output_size", "receptive_field", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "SimpleCNN",
               "count_parameters"]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _is_pair(v) -> bool:
    return isinstance(v, (tuple, list)) and len(v) == 2


def _made(kind: str = "new"):
    return lambda c: c.kind == kind


def arg(param: str, value: str, test, kinds=("new", "call")) -> tuple[str, str, callable, tuple[str, ...]]:
    """A cell about one argument: ``test(given value)``, or ``test is None`` for "left at its default"."""
    if test is None:
        return param, value, (lambda c: c.kind in kinds and param not in c.given), (param,)
    return param, value, (lambda c: c.kind in kinds and param in c.given and test(c.given[param])), (param,)


def geometry(c: Call):
    """((kh, kw), (sh, sw), (ph, pw), (N, C, H, W)) of a window operation's forward/backward call."""
    k = _pair(c.values["kernel_size"])
    stride = c.values.get("stride")
    s = k if stride is None else _pair(stride)
    p = _pair(c.values.get("padding", 0))
    return k, s, p, c.shape


def largest_padding(op: str, k: int) -> int:
    return k - 1 if op == "Conv2d" else k // 2


def _axis_regimes(op: str) -> list[tuple[str, callable]]:
    def rem(size, k, s, p):
        return (size + 2 * p - k) % s
    return [
        ("remainder 0", lambda size, k, s, p: rem(size, k, s, p) == 0),
        ("remainder in (0, padding]", lambda size, k, s, p: 0 < rem(size, k, s, p) <= p),
        ("remainder > padding (uncovered edge)", lambda size, k, s, p: rem(size, k, s, p) > p),
        ("kernel = padded input", lambda size, k, s, p: k == size + 2 * p),
        ("kernel 1", lambda size, k, s, p: k == 1),
        ("stride > kernel (gaps)", lambda size, k, s, p: s > k),
        ("stride < kernel (overlap)", lambda size, k, s, p: s < k),
        ("padding 0", lambda size, k, s, p: p == 0),
        ("padding > 0", lambda size, k, s, p: p > 0),
        ("largest padding", lambda size, k, s, p: p > 0 and p == largest_padding(op, k)),
    ]


def _axis_cell(op: str, kind: str, axis: int, test):
    def hit(c: Call) -> bool:
        if c.kind != kind or c.shape is None or len(c.shape) != 4:
            return False
        k, s, p, shape = geometry(c)
        return test(shape[2 + axis], k[axis], s[axis], p[axis])
    return hit


def _call_cell(kind: str, test):
    def hit(c: Call) -> bool:
        return c.kind == kind and c.shape is not None and len(c.shape) == 4 and test(*geometry(c), c)
    return hit


def _whole_call_regimes(op: str) -> list[tuple[str, callable]]:
    regimes = [
        ("batch 1", lambda k, s, p, shape, c: shape[0] == 1),
        ("one channel", lambda k, s, p, shape, c: shape[1] == 1),
        ("non-square input", lambda k, s, p, shape, c: shape[2] != shape[3]),
        ("asymmetric kernel alone", lambda k, s, p, shape, c: k[0] != k[1] and s[0] == s[1] and p[0] == p[1]),
        ("asymmetric stride alone", lambda k, s, p, shape, c: s[0] != s[1] and k[0] == k[1] and p[0] == p[1]),
        ("asymmetric padding alone", lambda k, s, p, shape, c: p[0] != p[1] and k[0] == k[1] and s[0] == s[1]),
    ]
    if op == "Conv2d":
        regimes.insert(2, ("one filter", lambda k, s, p, shape, c: c.values["out_channels"] == 1))
    return regimes


def _window_op(op: str) -> list[Cell]:
    cells = []
    ctor = [arg("kernel_size", "int", lambda v: isinstance(v, int)),
            arg("kernel_size", "(h, w) pair", _is_pair)]
    if op == "Conv2d":
        ctor = [arg("in_channels", "1", lambda v: v == 1), arg("in_channels", "> 1", lambda v: v > 1),
                arg("out_channels", "1", lambda v: v == 1), arg("out_channels", "> 1", lambda v: v > 1)] + ctor
        ctor += [arg("stride", "default (1)", None), arg("stride", "int > 1", lambda v: isinstance(v, int) and v > 1),
                 arg("stride", "(h, w) pair", _is_pair),
                 arg("padding", "default (0)", None), arg("padding", "int > 0", lambda v: isinstance(v, int) and v > 0),
                 arg("padding", "(h, w) pair", _is_pair),
                 arg("bias", "default (True)", None), arg("bias", "False", lambda v: v is False)]
    else:
        ctor += [arg("stride", "default (None: the kernel)", None), arg("stride", "None given", lambda v: v is None),
                 arg("stride", "int", lambda v: isinstance(v, int)), arg("stride", "(h, w) pair", _is_pair),
                 arg("padding", "default (0)", None), arg("padding", "int > 0", lambda v: isinstance(v, int) and v > 0),
                 arg("padding", "(h, w) pair", _is_pair)]
    cells += [Cell(op, f"arg {param}", value, hit, params) for param, value, hit, params in ctor]
    for kind in ("forward", "backward"):
        for axis, name in ((0, "H"), (1, "W")):
            cells += [Cell(op, f"{kind} {name}", label, _axis_cell(op, kind, axis, test))
                      for label, test in _axis_regimes(op)]
        cells += [Cell(op, kind, label, _call_cell(kind, test)) for label, test in _whole_call_regimes(op)]
    outputs = ["input", "weight", "bias"] if op == "Conv2d" else ["input"]
    cells += [Cell(op, "backward outputs", f"d{name}" if name != "input" else "dx",
                   lambda c, name=name: c.kind == "grad" and c.what == name) for name in outputs]
    return cells


def _output_size() -> list[Cell]:
    api = "conv_output_size"
    cells = [Cell(api, f"arg {p}", v, hit, params) for p, v, hit, params in [
        arg("size", "given", lambda v: True), arg("kernel", "given", lambda v: True),
        arg("stride", "default (1)", None), arg("stride", "> 1", lambda v: v > 1),
        arg("padding", "default (0)", None), arg("padding", "> 0", lambda v: v > 0)]]
    for label, test in _axis_regimes("conv_output_size"):
        if label == "largest padding":
            continue
        cells.append(Cell(api, "arithmetic", label, lambda c, test=test: c.kind == "call" and test(
            c.values["size"], c.values["kernel"], c.values["stride"], c.values["padding"])))
    return cells


def model() -> list[Cell]:
    """Every cell the hidden checks of this assignment must hit."""
    cells = _output_size()
    cells += [Cell("receptive_field", f"arg {p}", v, hit, params) for p, v, hit, params in [
        arg("num_layers", "0", lambda v: v == 0), arg("num_layers", "1", lambda v: v == 1),
        arg("num_layers", "> 1", lambda v: v > 1),
        arg("kernel", "default (3)", None), arg("kernel", "not 3", lambda v: v != 3)]]
    for op in WINDOW_OPS:
        cells += _window_op(op)
    cells += [Cell("Flatten", f"arg {p}", v, hit, params) for p, v, hit, params in [
        arg("start_dim", "default (1)", None), arg("start_dim", "1 given", lambda v: v == 1),
        arg("start_dim", "0", lambda v: v == 0), arg("start_dim", "2", lambda v: v == 2)]]
    cells += [Cell("Flatten", "forward", "start_dim not 1",
                   lambda c: c.kind == "forward" and c.values["start_dim"] != 1),
              Cell("Flatten", "backward", "start_dim not 1",
                   lambda c: c.kind == "backward" and c.values["start_dim"] != 1),
              Cell("Flatten", "backward outputs", "dx", lambda c: c.kind == "grad" and c.what == "input")]
    cells += [Cell("SimpleCNN", f"arg {p}", v, hit, params) for p, v, hit, params in [
        arg("num_classes", "default (10)", None), arg("num_classes", "not 10", lambda v: v != 10),
        arg("in_channels", "default (3)", None), arg("in_channels", "not 3", lambda v: v != 3),
        arg("image_size", "default (32)", None), arg("image_size", "not 32", lambda v: v != 32)]]
    cells += [Cell("SimpleCNN", "forward", "batch > 1", lambda c: c.kind == "forward" and c.shape[0] > 1),
              Cell("SimpleCNN", "backward", "after a forward", lambda c: c.kind == "backward")]
    cells += [Cell("count_parameters", "arg model", "a SimpleCNN", lambda c: c.kind == "call", ("model",))]
    return cells
