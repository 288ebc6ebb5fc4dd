"""NameStubs: make every solution stub say what to implement.

nbgrader's ClearSolutions replaces each solution region with one fixed stub
(``raise NotImplementedError()``).  This preprocessor, run right after it
during ``generate_assignment``, rewrites each stub so the exception names the
function or method to write, e.g.::

    raise NotImplementedError("Layer.forward: replace this line with your implementation")
"""
from __future__ import annotations

import re

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)\s*\(")
_CLASS = re.compile(r"^(\s*)class\s+(\w+)\b")


def enclosing_name(lines: list[str], index: int) -> str:
    """Dotted name of the def (and class) that contain ``lines[index]``."""
    indent = len(lines[index]) - len(lines[index].lstrip())
    names = []
    for line in reversed(lines[:index]):
        for pattern in (_DEF, _CLASS):
            m = pattern.match(line)
            if m and len(m.group(1)) < indent:
                names.append(m.group(2))
                indent = len(m.group(1))
                break
    return ".".join(reversed(names))


class NameStubs(NbGraderPreprocessor):
    stub = Unicode("raise NotImplementedError()", help="The stub line written by ClearSolutions").tag(config=True)
    message = Unicode("{name}: replace this line with your implementation",
                      help="Exception message; {name} is the enclosing function or method").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or self.stub not in cell.source:
            return cell, resources
        lines = cell.source.split("\n")
        for i, line in enumerate(lines):
            if line.strip() == self.stub:
                name = enclosing_name(lines, i) or "this cell"
                text = self.message.format(name=name).replace('"', "'")
                lines[i] = line.replace(self.stub, f'raise NotImplementedError("{text}")')
        cell.source = "\n".join(lines)
        return cell, resources
