"""DropNotebookMetadata: notebook-level metadata keys that must not leave the instructor's side.

The source notebook is paired with its jupytext percent file (``metadata.jupytext.formats`` is
``ipynb,.pct.py:percent``), and nbgrader copies notebook metadata into every notebook it writes.
A JupyterLab with jupytext (the course's own, and many students') writes the paired text file at
every save of a notebook that carries that metadata: a student saving the released notebook would
get ``<assignment>.pct.py`` next to it, and it would travel with the submission. This preprocessor,
last of ``GenerateAssignment.preprocessors``, removes the listed keys (default: ``jupytext``) from
the released notebook. It is the last of ``Autograde.sanitize_preprocessors`` too: a submission
that carries the pairing is executed, cached and autograded without it (the pairing changes no
verdict, so with or without it a notebook has one execution key), and the instructor's lab does
not write a text file into ``autograded/`` when the autograded notebook is saved there.
"""
from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode


class DropNotebookMetadata(NbGraderPreprocessor):
    """Remove the configured keys from the notebook's top-level metadata; cells are left alone."""

    keys = List(Unicode(), default_value=["jupytext"],
                help="Top-level notebook metadata keys to remove").tag(config=True)

    def preprocess(self, nb, resources):
        for key in self.keys:
            nb.metadata.pop(key, None)
        return nb, resources
