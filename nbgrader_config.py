"""nbgrader configuration of the course (read by `nbgrader ...` and by the Makefile targets).

Grading runs student code only inside a sandboxed kernel and computes every
verdict in the trusted grading process (grader.engine.nbgrader_ext.execute).
"""
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
                                    AssignLatePenalties,
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

from grader.engine.nbgrader_ext.cellmeta import CheckCellMetadataCached
from grader.engine.nbgrader_ext.execute import TrustedExecute
from grader.engine.nbgrader_ext.feedback import FeedbackHTMLExporter, SubmissionNote
from grader.engine.nbgrader_ext.guard import GradingLockedExporter
from grader.engine.nbgrader_ext.metadata import DropNotebookMetadata
from grader.engine.nbgrader_ext.sanitize import ForgetUnknownCells
from grader.engine.nbgrader_ext.skip import SkipWhenGrading
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
# SkipWhenGrading refuses a release whose source tags a cell skip-when-grading that must run when grading.
# The released notebook carries no jupytext pairing (DropNotebookMetadata): a student's JupyterLab with
# jupytext would write <assignment>.pct.py next to it at every save, and it would travel with the submission.
c.GenerateAssignment.preprocessors = [
    IncludeHeaderFooter, LockCells, SkipWhenGrading, ClearSolutions, NameStubs, ClearOutput, CheckCellMetadataCached,
    ComputeChecksums, SaveCells, ClearHiddenTests, ComputeChecksums, CheckCellMetadataCached, DropNotebookMetadata,
]

# CheckCellMetadataCached is nbgrader's CheckCellMetadata with its JSON schema compiled once per process.
# Missing test cells are put back so every behaviour is graded; duplicated ones become ordinary
# cells; a submission's jupytext pairing is dropped (it changes no verdict, so it neither splits the
# execution cache nor makes the instructor's lab write a .pct.py into autograded/); the cells the source
# notebook tags skip-when-grading (demonstrations: figures, timings) are the only ones that carry the tag, and
# the trusted executor, which replaces nbgrader's in-kernel Execute, does not run them.
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, ForgetUnknownCells, OverwriteKernelspec, OverwriteCells, SkipWhenGrading,
    CheckCellMetadataCached, DropNotebookMetadata,
]
c.Autograde.autograde_preprocessors = [
    TrustedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadataCached,
]
# nbgrader's autograde refuses, before it touches a submission, while the grading service or a batch grades
# the course in another process (grader/engine/grading_lock.py)
c.Autograde.exporter_class = GradingLockedExporter

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

# Feedback never shows hidden-test source. SubmissionNote adds nothing unless the grading service
# (python -m grader serve) sets its text: when the submission was graded, whether it counts, the rate limit.
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, ClearHiddenTests, SubmissionNote]
# the same HTML exporter, compiling its templates once per process instead of once per feedback page
c.GenerateFeedback.exporter_class = FeedbackHTMLExporter
c.ClearHiddenTests.enforce_metadata = False

# LMS downloads: `nbgrader zip_collect <assignment>` (or `python -m grader collect-zip ZIP -a <assignment>`)
# collects downloaded/<assignment>/archive/*.zip, whose files are named
# <student>_[LATE_]<lms id>_<upload id>_<original name>: each student's notebook with the largest upload id
# lands as submitted/<student>/<assignment>/<assignment>.ipynb; every other file is skipped and logged with
# its reason (grader/tools/lms.py).
c.ZipCollectApp.collector_plugin = "grader.tools.lms.LatestUploadCollector"
# each download is unpacked one level deep: a student's uploaded archive stays packed (and is skipped)
c.ZipCollectApp.extractor_plugin = "grader.tools.lms.DownloadExtractor"
c.LatestUploadCollector.named_regexp = r"(?P<student_id>.+?)_(?P<late>LATE_)?\d+_(?P<upload_id>\d+)_(?P<file_id>.+)"

# Late submissions: an assignment's due date is set in formgrader (Manage Assignments, edit) or with
# `nbgrader db assignment add <assignment> --duedate="2026-03-01 17:00:00 UTC"`; autograde then takes
# c.SubMarks.marks_per_hour off each notebook submitted after it, per started hour, never below zero
# (grader/engine/nbgrader_ext/late.py).
c.AssignLatePenalties.plugin_class = "grader.engine.nbgrader_ext.late.SubMarks"
c.SubMarks.marks_per_hour = 1.0

# The grading service (`make serve`): each submission in the exchange is graded as it arrives and its
# feedback released to its student (grader/engine/service/). A student gets `rate_limit` graded
# submissions of an assignment per rolling `rate_window` seconds (a further one waits, and its feedback
# says until when); before the due date feedback shows every check ('checks') or the visible checks
# only ('visible'); the gradebook holds the last submission by the due date ('last_before_deadline')
# or the last one ('last'), with nbgrader's late penalty either way.
c.ServicePolicy.rate_limit = 3
c.ServicePolicy.rate_window = 3600
c.ServicePolicy.feedback_before_deadline = "checks"
c.ServicePolicy.counts = "last_before_deadline"
