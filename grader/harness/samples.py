"""Sample submissions: read solution cells from notebooks and style files, write submissions.

A *style* gives the full source of every solution cell of an assignment
(``<assignment>/samples/styles/<name>.py``, one ``# %% <grade_id>`` section per
cell).  The ``reference`` style is read from the instructor's source notebook
itself.  ``build_notebook`` fills a copy of the released notebook with a
style's cells, which is exactly what a student's submitted notebook looks like.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil

import nbformat
from nbgrader import utils

_SECTION = re.compile(r"^# %% (\w+)\s*$", re.MULTILINE)
_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


def solution_cells(nb) -> dict[str, str]:
    """grade_id -> source of every code solution cell, with the solution markers removed."""
    cells = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and utils.is_solution(cell):
            lines = [line for line in cell.source.split("\n") if not _MARKER.match(line)]
            cells[cell.metadata.nbgrader["grade_id"]] = "\n".join(lines)
    return cells


def cell_index(nb, grade_id: str) -> int:
    """Position of the cell with nbgrader grade id ``grade_id``; ValueError when there is none."""
    for i, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return i
    raise ValueError(f"no cell with grade id {grade_id!r} in the notebook")


def style_names(styles_dir: str) -> list[str]:
    """The style files in ``styles_dir`` (without ``reference``, which every assignment has)."""
    if not os.path.isdir(styles_dir):
        return []
    return sorted(os.path.splitext(f)[0] for f in os.listdir(styles_dir) if f.endswith(".py") and f[0] != "_")


def read_style(styles_dir: str, name: str, source_nb=None) -> dict[str, str]:
    """The cells of style ``name`` from ``styles_dir``; ``reference`` comes from the source notebook's solutions."""
    if name == "reference":
        if source_nb is None:
            raise ValueError("the reference style needs the source notebook")
        return solution_cells(source_nb)
    path = os.path.join(styles_dir, f"{name}.py")
    if not os.path.isfile(path):
        raise KeyError(f"no style {name!r}: expected {path}; known: {['reference'] + style_names(styles_dir)}")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    parts = _SECTION.split(text)
    cells = {}
    for grade_id, body in zip(parts[1::2], parts[2::2]):
        cells[grade_id] = body.strip("\n") + "\n"
    return cells


def build_notebook(release_nb, cells: dict[str, str]):
    """A copy of the released notebook with the given solution cells filled in."""
    nb = nbformat.from_dict(release_nb)
    known = {c.metadata.nbgrader["grade_id"] for c in nb.cells if utils.is_solution(c)}
    unknown = set(cells) - known
    if unknown:
        raise KeyError(f"no solution cell named {sorted(unknown)} in the notebook; known: {sorted(known)}")
    for cell in nb.cells:
        if utils.is_solution(cell) and cell.metadata.nbgrader["grade_id"] in cells:
            cell.source = cells[cell.metadata.nbgrader["grade_id"]]
    return nb


def write_submission(course_root: str, assignment: str, student: str, nb, release_dir: str,
                     timestamp: str = "2026-11-20 12:00:00.000000 UTC") -> str:
    """Lay out ``submitted/<student>/<assignment>/`` the way ``nbgrader collect`` does."""
    dest = os.path.join(course_root, "submitted", student, assignment)
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree(release_dir, dest, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    nbformat.write(nb, os.path.join(dest, f"{assignment}.ipynb"))
    with open(os.path.join(dest, "timestamp.txt"), "w") as fh:
        fh.write(timestamp)
    return dest


@dataclasses.dataclass(frozen=True)
class Mutant:
    """A realistic student bug: a small, named text change to one cell of a correct solution style.

    ``find`` must occur exactly once, so a mutant can never silently stop applying; ``fails`` names
    the graded cells it must lose points on (exactly these).  An assignment's ``samples/mutants.py``
    declares its ``CATALOG`` of them, with ``styles_dir`` set to its own styles.
    """

    name: str
    style: str              # the correct solution it starts from
    cell: str               # the solution cell it changes
    find: str
    replace: str
    fails: tuple[str, ...]  # graded cells that must lose points (exactly these)
    about: str = ""
    equivalent: str = ""    # why the change cannot be detected (empty: it must be killed)
    styles_dir: str = dataclasses.field(default="", repr=False)

    def cells(self, source_nb=None) -> dict[str, str]:
        cells = read_style(self.styles_dir, self.style, source_nb)
        code = cells[self.cell]
        count = code.count(self.find)
        if count != 1:
            raise ValueError(f"mutant {self.name}: {self.find!r} occurs {count} times in {self.style}/{self.cell}")
        cells[self.cell] = code.replace(self.find, self.replace)
        return cells
