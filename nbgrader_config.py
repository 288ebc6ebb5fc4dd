"""nbgrader configuration of the course (read by `nbgrader ...` and by the Makefile targets).

Grading runs student code only inside a sandboxed kernel and computes every
verdict in the trusted grading process (grader.engine.nbgrader_ext.execute).
"""
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
                                    AssignLatePenalties,
                                    CheckCellMetadata,
                                    ClearHiddenTests,
                                    ClearOutput,
                                    ClearSolutions,
                                    ComputeChecksums,
                                    DeduplicateIds,
                                    GetGrades,
                                    IgnorePattern,
                                    IncludeHeaderFooter,
                                    LimitOutput,
                                    LockCells,
                                    OverwriteCells,
                                    OverwriteKernelspec,
                                    SaveAutoGrades,
                                    SaveCells,
)

from grader.engine.nbgrader_ext.execute import TrustedExecute
from grader.engine.nbgrader_ext.sanitize import ForgetUnknownCells
from grader.engine.nbgrader_ext.stubs import NameStubs

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "ml-systems"
# sqlite by default; any SQLAlchemy URL works (e.g. postgresql://user@127.0.0.1:5432/gradebook).
c.CourseDirectory.db_url = os.environ.get("NBGRADER_DB_URL", f"sqlite:///{os.path.join(ROOT, 'gradebook.db')}")
# The jupytext source (*.pct.py) holds the solutions: never copy it into release/ or autograded/.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*", "*.pct.py"]
c.Exchange.root = os.path.join(ROOT, ".exchange")

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.GenerateAssignment.preprocessors = [
    IncludeHeaderFooter, LockCells, ClearSolutions, NameStubs, ClearOutput, CheckCellMetadata,
    ComputeChecksums, SaveCells, ClearHiddenTests, ComputeChecksums, CheckCellMetadata,
]

# Missing test cells are put back so every behaviour is graded; duplicated ones become ordinary
# cells; the trusted executor replaces nbgrader's in-kernel Execute.
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, ForgetUnknownCells, OverwriteKernelspec, OverwriteCells, CheckCellMetadata,
]
c.Autograde.autograde_preprocessors = [
    TrustedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
]

# Executions are cached by content: re-grading an unchanged submission costs nothing, and
# `python -m grader grade` fills the cache in parallel before nbgrader records the grades.
c.TrustedExecute.cache_dir = os.path.join(ROOT, ".grading", "cache")

# Modules students may not use, per assignment: student code importing one gets a ModuleNotFoundError
# that names it ("block"; "flag" lets the import work), and every use is a forbidden_library incident
# in the grading record and the instructor report (grader/engine/library_policy.py). Library code keeps
# importing what it needs (matplotlib imports PIL).
c.LibraryPolicy.forbidden_modules = {
    "04_losses": ["scipy.special", "sklearn", "torch", "tensorflow", "jax"],
    "09_spatial": ["scipy.signal", "scipy.ndimage", "sklearn", "torch", "tensorflow", "jax", "cv2", "PIL"],
}
c.LibraryPolicy.action = "block"

# The reference implementation and the test oracle are installed for the grader; student code never sees them.
c.SandboxPolicy.hidden_packages = ["grader", "gradekit", "assignments", "tinytorch_ref", "torch"]

# Feedback never shows hidden-test source.
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, ClearHiddenTests]
c.ClearHiddenTests.enforce_metadata = False
