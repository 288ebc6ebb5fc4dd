"""Every hostile and broken submission, graded in one batch with good ones, through the real pipeline.

grader.harness.attack_suite.run_suite builds the catalog (grader/samples/ATTACKS.py) in a scratch course,
adds correct, buggy and blank submissions to the same batch, grades them all with batch.grade_batch
(sandboxed kernels, trusted checks, nbgrader recording) and checks each against what its entry
declares; these tests assert those verdicts one by one, and what the probes saw.

The suite runs as an ordinary Linux user, not root: the sandbox then confines each kernel through
user namespaces instead of a uid of its own (grader/engine/sandbox.py), and every attack must fail
against that as well.  Grading as root is exercised by the other end-to-end tests.
"""
from __future__ import annotations

import json
import os
import pickle
import sys

import nbformat
import pytest

from grader.engine import batch, course
from grader.harness import attack_suite

from ..conftest import ASSIGNMENT, ATTACKS
from ..users import owned_dir, remove_tree, run_as

pytestmark = pytest.mark.slow
TAMPERING = [a.name for a in ATTACKS.CATALOG if a.expect == "at_most_blank"]
SURVIVED = [a.name for a in ATTACKS.CATALOG if a.expect == "full"]
CONFINED = [a.name for a in ATTACKS.CATALOG if a.expect.startswith("lose:")]
UNGRADABLE = [a.name for a in ATTACKS.CATALOG if a.expect == "failed"]


RUN_SUITE = """\
import pickle, sys
from grader.harness import attack_suite
from tests.conftest import SPATIAL
report = attack_suite.run_suite(SPATIAL, root=sys.argv[1], workers=3, progress=False, log=lambda *a: None)
with open(sys.argv[2], "wb") as fh:
    pickle.dump(report, fh)
"""


@pytest.fixture(scope="module")
def suite(grading_user):
    """The whole suite, graded by ``grading_user`` (no root) in a scratch course it owns."""
    home = owned_dir(grading_user, "attacks-")
    try:
        out = os.path.join(home, "report.pickle")
        done = run_as(grading_user, [sys.executable, "-c", RUN_SUITE, os.path.join(home, "course"), out],
                      home=home, timeout=900)
        assert done.returncode == 0, done.stderr[-4000:]
        with open(out, "rb") as fh:
            report = pickle.load(fh)
        assert os.stat(report.root).st_uid == grading_user.pw_uid
        yield report
    finally:
        remove_tree(home)


def result(suite, name):
    return suite.results[f"attack_{name}"]


def autograded_file(suite, student, suffix):
    return os.path.join(suite.root, "autograded", student, ASSIGNMENT, ASSIGNMENT + suffix)


def record_of(suite, student):
    with open(autograded_file(suite, student, ".grading.json"), encoding="utf-8") as fh:
        return json.load(fh)


def error_names(suite, student, source_part):
    """The error outputs' names of the one autograded cell whose source contains ``source_part``."""
    nb = nbformat.read(autograded_file(suite, student, ".ipynb"), as_version=4)
    cells = [c for c in nb.cells if source_part in c.source]
    assert len(cells) == 1, f"{len(cells)} cells contain {source_part!r}"
    return [o.get("ename") for o in cells[0].outputs if o.output_type == "error"]


def test_the_catalog_covers_every_threat_of_the_model():
    names = {a.name for a in ATTACKS.CATALOG}
    assert {"custom_exc", "showtraceback", "always_equal", "patch_numpy", "frame_peek", "read_secrets",
            "network", "fake_agent", "pickle_agent"} <= set(TAMPERING)
    assert {"edit_locked_cells", "restored_test_cell", "duplicated_cells", "reordered_cells", "renamed_grade_ids",
            "invalid_json", "empty_file", "not_utf8", "wrong_file_name", "extra_files", "huge_stored_output",
            "output_flood", "sys_exit", "os_exit", "segfault", "infinite_loop", "memory_bomb", "fork_bomb",
            "disk_bomb"} <= names
    assert {"link_to_source", "link_to_classmate", "link_to_gradebook", "link_to_passwd", "student_folder_link",
            "extra_file_link", "extra_fifo", "outside_hard_link", "notebook_folder", "lone_surrogates",
            "many_empty_cells", "deep_metadata"} <= set(UNGRADABLE)
    assert {"drip_answer", "compressed_bomb", "deep_json", "odd_arrays", "leave_state", "look_for_state",
            "scipy_solution", "obfuscated_scipy_import", "from_scipy_import_ndimage", "non_utf8_file_name"} <= names
    assert {"visible_lookup", "lookup_table"} <= set(TAMPERING)
    assert len(ATTACKS.CATALOG) == len(names) == 65


def test_no_submission_is_recorded_as_a_grader_error(suite):
    """Odd answers, files and notebooks are the student's problem, reported as such, never the grader's."""
    blamed = {s: r.reasons for s, r in suite.results.items()
              if "grader_error" in r.reasons or any(x.startswith("grader error") for x in r.reasons)}
    assert blamed == {}


def test_good_submissions_in_the_same_batch_are_graded_exactly(suite):
    good = {s: (r.status, r.total, r.problems) for s, r in suite.results.items() if s in ATTACKS.GOOD}
    assert good == {"good_im2col": ("graded", 44.0, []),
                    "good_einsum": ("graded", 44.0, []), "good_buggy_flipped_kernel": ("graded", 35.6, []),
                    "good_blank": ("graded", 0.0, [])}
    assert suite.blank_total == 0.0 and suite.max_total == 44.0


@pytest.mark.parametrize("name", TAMPERING)
def test_tampering_scores_no_more_than_the_blank_release(suite, name):
    r = result(suite, name)
    assert r.status != "failed", r.reasons
    assert r.total <= suite.blank_total, r.problems
    assert r.ok, r.problems


@pytest.mark.parametrize("name", SURVIVED)
def test_a_correct_solution_survives_the_disturbance_with_full_marks(suite, name):
    r = result(suite, name)
    assert r.total == suite.max_total, (r.lost, r.reasons)
    declared = ATTACKS.BY_NAME[name].reasons
    for reason in declared:  # the limit that was hit is on the record
        assert reason in r.reasons, r.reasons
    # a disturbance that hits no limit leaves no incident either
    assert r.status == ("graded_with_incidents" if declared else "graded"), (r.status, r.reasons)
    assert r.ok, r.problems


@pytest.mark.parametrize("name", CONFINED)
def test_damage_costs_only_the_affected_cells(suite, name):
    r = result(suite, name)
    declared = ATTACKS.BY_NAME[name].expect.split(":", 1)[1].split(",")
    assert sorted(r.lost) == sorted(declared)
    assert r.ok, r.problems


@pytest.mark.parametrize("name", UNGRADABLE)
def test_an_ungradable_file_gets_a_zero_row_and_a_reason(suite, name):
    r = result(suite, name)
    assert r.status == "failed" and r.total == 0.0
    assert r.reasons and all(reason.strip() for reason in r.reasons)
    assert r.ok, r.problems
    # the zero row is in the gradebook (nbgrader's export lists the student)
    assert f"attack_{name}" in course.cell_scores(ASSIGNMENT, suite.root)


def test_the_secrets_probe_saw_nothing(suite):
    seen = suite.probes["attack_read_secrets"]["secrets"]
    targets = ATTACKS.ProbeTargets.for_course(suite.root)
    key = os.path.join(suite.root, ".secrets", "inputs.key")   # the course secret behind the hidden inputs:
    assert key in targets.secret_paths and os.path.getsize(key) == 32   # there on the host, not in the sandbox
    for path in targets.secret_paths:
        assert path in seen
        if not attack_suite._only_python(path, seen[path]):
            assert seen[path] in ("FileNotFoundError", "PermissionError"), (path, seen[path])
    for module in ("tinytorch_ref", "tinytorch_ref.spatial", "grader", "grader.engine", "assignments", "torch"):
        assert seen[module] == "ModuleNotFoundError", (module, seen[module])
    assert seen["sandboxes visible"] == 1
    assert result(suite, "read_secrets").ok


def test_the_network_probe_reached_nothing(suite):
    seen = suite.probes["attack_network"]["network"]
    assert sorted(where.rsplit(":", 1)[0] for where in seen) == ["1.1.1.1", "127.0.0.1", "localhost", "pypi.org"]
    assert "CONNECTED" not in seen.values(), seen
    assert result(suite, "network").ok  # includes: the host's listener accepted no connection


def test_a_table_of_an_earlier_gradings_inputs_and_answers_scores_nothing(suite):
    """The student's correct first submission (the probe) was graded with full marks; its hidden inputs and
    the reference's answers to them, handed in as a table, score nothing as the next submission, which
    draws new inputs, while the same table graded under the probe's inputs earns every cell it covers."""
    replay = suite.replays["attack_lookup_table"]
    assert replay["probe_total"] == suite.max_total == 44.0
    assert replay["table_entries"] > 100
    assert len(bytes.fromhex(replay["salt"])) == 32 and replay["salt"] != replay["probe_salt"]
    assert record_of(suite, "attack_lookup_table")["inputs_salt"] == replay["salt"]
    r = result(suite, "lookup_table")
    assert (r.status, r.total, r.problems) == ("graded", 0.0, []) and suite.blank_total == 0.0
    # Conv2d forward and backward, both poolings forward and backward, Flatten: 6 + 6 + 4 + 4 + 3 + 3 + 2
    assert replay["control_total"] == pytest.approx(28.0)


def test_incidents_are_recorded_with_the_cell_they_hit(suite):
    record = record_of(suite, "attack_exit_in_forward")
    assert record["status"] == "graded_with_incidents"
    assert [(i["kind"], i["cell"]) for i in record["incidents"]][0] == ("crashed", "test_conv2d_forward")
    assert record["sandbox"].startswith("bwrap: cell 12s, submission 120s")
    assert record["sandbox"].endswith(", rootless (user namespace)")   # graded by an ordinary user
    assert "disk unbounded" not in record["sandbox"]


def test_a_fork_bomb_costs_its_own_cell_and_one_restart(suite):
    # its processes (copies of the kernel) must not outlive the cell: kept, they slowed every later cell and
    # check (a check timed out) and a replay after a restart started them again
    record = record_of(suite, "attack_fork_bomb")
    cells = {i["cell"] for i in record["incidents"]}
    kinds = {i["kind"] for i in record["incidents"]}
    assert len(cells) == 1 and "process_limit" in kinds and kinds <= {"process_limit", "timeout"}, record["incidents"]
    assert record["kernel_starts"] == 2
    assert error_names(suite, "attack_fork_bomb", "os.fork()")[-1] == "ProcessLimit"


def test_an_interrupted_cell_keeps_its_timeout_notice(suite):
    assert error_names(suite, "attack_infinite_loop", ATTACKS.INFINITE_LOOP) == [
        "KeyboardInterrupt", "CellTimeoutError"]


def test_every_submission_has_a_row_or_a_failure_record(suite):
    outcomes = {o.student: o for o in batch.all_outcomes(ASSIGNMENT, suite.root)}
    rows = course.cell_scores(ASSIGNMENT, suite.root)
    assert set(outcomes) == set(suite.results) == set(rows)
    assert {o.status for o in outcomes.values()} <= {"graded", "graded_with_incidents", "failed"}
    assert sorted(s for s, o in outcomes.items() if o.status == "failed") == sorted(f"attack_{n}" for n in UNGRADABLE)
    # the batch (every submission, the lookup table's probe among them), then the lookup table handed in again
    first, then = suite.summary.split("; then ")
    assert first.startswith("52 graded (") and ", 17 failed, 0 skipped" in first
    assert then.startswith("1 graded (0 with incidents), 0 failed, 0 skipped")


def test_the_suite_table_lists_every_verdict(suite):
    text = attack_suite.table(suite)
    assert text.count("\n") == len(suite.results) + 2
    assert f"{len(suite.results)}/{len(suite.results)} submissions graded as they must be" in text
