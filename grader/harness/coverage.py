"""Which behaviours the hidden checks exercise: every call recorded, matched against a declared model.

``python -m grader coverage`` (``make coverage``) runs every hidden check against the
reference solution through :class:`RecordingStudent`, the same ``LocalStudent`` adapter the
checks use everywhere, which records each call into the graded API: constructor arguments
(as given and with defaults applied), forward inputs' shapes, backward passes and the
gradients read afterwards, each with the check that made it.  A coverage *model* (for an
assignment: its list of :class:`Cell`) declares what must be exercised; :func:`measure`
matches the calls against it and :func:`table` prints, for every cell, the checks that hit it.

A cell no hidden check hits is a gap; so is a parameter of a graded API that no cell names
(:func:`unmodelled_parameters`), so adding an argument to a graded class without extending
the model fails too.
"""
from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

import numpy as np

from gradekit.student import LocalStudent

__all__ = ["Call", "Cell", "RecordingStudent", "Coverage", "measure", "table", "unmodelled_parameters"]


@dataclasses.dataclass(frozen=True)
class Call:
    """One call from a check into the graded API."""

    check: str
    api: str                  # function or class name
    kind: str                 # call | new | forward | backward | grad
    given: dict               # arguments as the check passed them (by parameter name)
    values: dict              # arguments with the signature's defaults applied
    shape: tuple | None = None   # the input's shape (forward, backward, grad)
    what: str = ""            # for grad: "input" or the parameter's attribute name


@dataclasses.dataclass(frozen=True)
class Cell:
    """One behaviour the hidden checks must exercise: ``hit(call)`` says whether a call does."""

    api: str
    aspect: str               # e.g. "stride", "forward H", "backward outputs"
    value: str                # e.g. "default", "(h, w) pair", "remainder > padding"
    hit: Callable[[Call], bool]
    params: tuple[str, ...] = ()   # the API parameters this cell is about (for the unmodelled check)


class RecordingStudent(LocalStudent):
    """A LocalStudent that records every call into the graded API, attributed to ``self.check``."""

    def __init__(self, namespace: dict):
        super().__init__(namespace)
        self.check = ""
        self.calls: list[Call] = []
        self._keep: list = []          # objects stay alive, so their ids stay unique
        self._layers: dict[int, tuple[str, dict, dict]] = {}
        self._outputs: dict[int, tuple[str, dict, dict, tuple]] = {}
        self._inputs: dict[int, tuple[str, dict, dict, tuple]] = {}
        self._params: dict[int, tuple[str, dict, dict, str]] = {}

    def _bind(self, name: str, args, kwargs) -> tuple[dict, dict]:
        target = self.ns[name]
        try:
            bound = inspect.signature(target).bind(*args, **kwargs)
        except (TypeError, ValueError):
            return dict(kwargs), dict(kwargs)
        given = dict(bound.arguments)
        bound.apply_defaults()
        return given, dict(bound.arguments)

    def _add(self, api, kind, given, values, shape=None, what=""):
        self.calls.append(Call(self.check, api, kind, given, values, shape, what))

    def call(self, name: str, *args, **kwargs):
        given, values = self._bind(name, args, kwargs)
        self._add(name, "call", given, values)
        return super().call(name, *args, **kwargs)

    def new(self, class_name: str, *args, **kwargs):
        obj = super().new(class_name, *args, **kwargs)
        given, values = self._bind(class_name, args, kwargs)
        self._keep.append(obj)
        self._layers[id(obj)] = (class_name, given, values)
        self._add(class_name, "new", given, values)
        return obj

    def apply(self, obj, *inputs):
        out = super().apply(obj, *inputs)
        layer = self._layers.get(id(obj))
        if layer is not None and inputs:
            shape = tuple(np.shape(getattr(inputs[0], "data", inputs[0])))
            self._keep.extend((out, *inputs))
            self._outputs[id(out)] = layer + (shape,)
            self._inputs[id(inputs[0])] = layer + (shape,)
            self._add(layer[0], "forward", layer[1], layer[2], shape)
        return out

    def backward(self, tensor, grad) -> None:
        super().backward(tensor, grad)
        produced = self._outputs.get(id(tensor))
        if produced is not None:
            self._add(produced[0], "backward", produced[1], produced[2], produced[3])

    def attr(self, obj, name: str):
        value = super().attr(obj, name)
        layer = self._layers.get(id(obj))
        if layer is not None and value is not None:
            self._keep.append(value)
            self._params[id(value)] = layer + (name,)
        return value

    def grad(self, tensor):
        value = super().grad(tensor)
        if id(tensor) in self._inputs:
            api, given, values, shape = self._inputs[id(tensor)]
            self._add(api, "grad", given, values, shape, "input")
        elif id(tensor) in self._params:
            api, given, values, name = self._params[id(tensor)]
            self._add(api, "grad", given, values, None, name)
        return value


@dataclasses.dataclass
class Coverage:
    cells: list[Cell]
    hits: dict[int, list[str]]          # cell index -> checks that hit it (in order, distinct)
    calls: list[Call]

    @property
    def gaps(self) -> list[Cell]:
        return [cell for i, cell in enumerate(self.cells) if not self.hits[i]]


def record(registry, namespace: dict) -> list[Call]:
    """Every call the checks of ``registry`` make into the API defined in ``namespace``; a failing check raises."""
    student = RecordingStudent(namespace)
    for check in registry:
        student.check = check.name
        check.func(student)
    return student.calls


def measure(cells: list[Cell], calls: list[Call]) -> Coverage:
    hits: dict[int, list[str]] = {i: [] for i in range(len(cells))}
    for i, cell in enumerate(cells):
        for call in calls:
            if call.api == cell.api and cell.hit(call) and call.check not in hits[i]:
                hits[i].append(call.check)
    return Coverage(cells, hits, calls)


def unmodelled_parameters(cells: list[Cell], namespace: dict, apis: list[str]) -> dict[str, list[str]]:
    """API -> parameters of its signature that no cell of the model is about."""
    missing = {}
    for api in apis:
        params = [p for p in inspect.signature(namespace[api]).parameters if p not in ("self", "args", "kwargs")]
        named = {p for cell in cells if cell.api == api for p in cell.params}
        left = [p for p in params if p not in named]
        if left:
            missing[api] = left
    return missing


def table(coverage: Coverage, width: int = 60) -> str:
    """The model as a table: API, aspect, value, and the checks that hit each cell (or GAP)."""
    rows = [("api", "aspect", "value", "hit by")]
    for i, cell in enumerate(coverage.cells):
        checks = coverage.hits[i]
        short = ", ".join(c.split(".", 1)[-1] for c in checks)
        shown = "GAP: no hidden check" if not checks else (short if len(short) <= width else short[:width - 3] + "...")
        rows.append((cell.api, cell.aspect, cell.value, shown))
    widths = [max(len(r[k]) for r in rows) for k in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}" for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    covered = len(coverage.cells) - len(coverage.gaps)
    lines.append(f"{covered}/{len(coverage.cells)} cells hit by a hidden check; {len(coverage.calls)} calls recorded")
    return "\n".join(lines)


def reference_namespace(assignment) -> dict:
    """The notebook's setup cell and the reference solution's cells, executed into a plain namespace."""
    from .mutation import notebook_plan, setup_cells, source_notebook, use_shipped_packages
    from .samples import solution_cells

    use_shipped_packages(assignment)
    source_nb = source_notebook(assignment)
    solution = solution_cells(source_nb)
    namespace: dict = {"__name__": "__main__"}
    for kind, grade_id, payload in notebook_plan(source_nb, setup_cells(assignment)):
        code = payload if kind == "setup" else solution.get(grade_id) if kind == "solution" else None
        if code is not None:
            exec(compile(code, f"<cell {grade_id}>", "exec"), namespace)  # noqa: S102 - the instructor's solution
    return namespace


def run(assignment) -> tuple[Coverage, dict[str, list[str]]]:
    """The hidden checks' coverage of the assignment's model, and the graded parameters the model does not name."""
    model = assignment.module("hidden_coverage")
    namespace = reference_namespace(assignment)
    cells = model.model()
    coverage = measure(cells, record(assignment.registry(hidden=True), namespace))
    return coverage, unmodelled_parameters(cells, namespace, model.GRADED_APIS)


def main(assignments) -> int:
    """Print the coverage table of every given assignment that declares a model; 1 on any gap."""
    status = 0
    for assignment in assignments:
        if not assignment.has("hidden_coverage"):
            print(f"==== {assignment.name}: no hidden_coverage.py (no coverage model declared)")
            continue
        print(f"==== {assignment.name}: {assignment.title}")
        coverage, unmodelled = run(assignment)
        print(table(coverage))
        for api, params in unmodelled.items():
            print(f"GAP: {api} has parameters no cell of the model names: {', '.join(params)}")
        status |= 1 if coverage.gaps or unmodelled else 0
    return status
