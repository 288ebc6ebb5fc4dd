"""Unit: the course's late-submission penalty (grader.engine.nbgrader_ext.late.SubMarks) as nbgrader loads it."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from nbformat.v4 import new_notebook
from nbgrader.preprocessors import AssignLatePenalties
from traitlets.config import Config

from grader.engine import course
from grader.engine.nbgrader_ext.late import SubMarks

HOUR = 3600


@pytest.mark.parametrize("seconds, penalty", [
    (0, None),               # on time
    (1, 1.0),                # one second late costs the first hour
    (HOUR, 1.0),
    (HOUR + 1, 2.0),
    (26 * HOUR - 60, 26.0),
])
def test_one_mark_per_started_hour(seconds, penalty):
    assert SubMarks().late_submission_penalty("alice", 44.0, seconds) == penalty


def test_the_deduction_per_hour_is_configurable():
    plugin = SubMarks(config=Config({"SubMarks": {"marks_per_hour": 0.5}}))
    assert plugin.late_submission_penalty("alice", 44.0, 3 * HOUR + 5) == 2.0


def test_the_course_configuration_plugs_it_into_autograde():
    preprocessor = AssignLatePenalties(config=course.load_config(course.ROOT))
    preprocessor.init_plugin()
    assert type(preprocessor.plugin_inst) is SubMarks
    assert preprocessor.plugin_inst.marks_per_hour == 1.0
    assert preprocessor.plugin_inst.late_submission_penalty("alice", 10.0, 90 * 60) == 2.0


def test_autograde_records_the_penalty_of_a_late_notebook_in_the_gradebook(tmp_path):
    from nbgrader.api import Gradebook
    db_url = f"sqlite:///{tmp_path}/gradebook.db"
    due = datetime(2026, 3, 1, 17, 0)
    with Gradebook(db_url) as gb:
        gb.add_assignment("09_spatial", duedate=due)
        gb.add_notebook("09_spatial", "09_spatial")
        gb.add_grade_cell("conv", "09_spatial", "09_spatial", max_score=10, cell_type="code")
        gb.add_student("alice")
        gb.add_submission("09_spatial", "alice", timestamp=due + timedelta(hours=2, minutes=5))
        gb.find_grade("conv", "09_spatial", "09_spatial", "alice").auto_score = 8
        gb.db.commit()
    resources = {"nbgrader": {"notebook": "09_spatial", "assignment": "09_spatial", "student": "alice",
                              "db_url": db_url}}
    AssignLatePenalties(config=course.load_config(course.ROOT)).preprocess(new_notebook(), resources)
    with Gradebook(db_url) as gb:
        submission = gb.find_submission("09_spatial", "alice")
        notebook = gb.find_submission_notebook("09_spatial", "09_spatial", "alice")
        assert submission.total_seconds_late == 2 * HOUR + 5 * 60
        assert (notebook.score, notebook.late_submission_penalty) == (8.0, 3.0)
        assert submission.late_submission_penalty == 3.0
