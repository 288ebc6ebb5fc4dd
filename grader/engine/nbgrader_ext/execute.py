"""TrustedExecute: nbgrader's execution step, with verdicts computed outside student code.

Plugged in as the first of ``Autograde.autograde_preprocessors`` (see
nbgrader_config.py), it replaces nbgrader's in-kernel ``Execute``:

* Student cells run, in order, in a sandboxed kernel (grader.engine.sandbox) with a
  time limit per cell and per notebook, and a cap on output.
* Autograder test cells are *not* executed in that kernel.  Their
  ``run("<group>")`` / ``run("<group>", hidden=True)`` calls are read from
  the cell source, and the grader runs those checks itself, reaching the
  student's objects only through RemoteStudent (plain arrays back).  Every
  verdict goes into the grading record; the cell's outputs are rendered from
  the verdicts when nbgrader records the notebook: a PASS/FAIL report with each
  check's points, then the points earned (partial credit) or an error output
  (all or nothing), which is what nbgrader's SaveAutoGrades scores.  No hidden
  check source and no traceback from grader code ever reaches an output.
* Before each student cell runs, its source is scanned for forbidden libraries
  (grader.engine.library_policy); the kernel's import guard is asked what it saw.
* The hidden checks draw their random inputs under the submission's salt
  (grader.engine.inputs: HMAC of the course secret and what is handed in), so
  each submission gets inputs of its own and a re-grade of it the same ones;
  the salt is part of the execution key and of the grading record.
* A code cell the instructor tagged ``skip-when-grading`` in the source notebook (a demonstration:
  a figure, a timing table) is not run; its output says so (grader.engine.nbgrader_ext.skip).
* When a kernel dies, hangs or runs out of memory, or a cell reaches the
  process limit (its processes would outlive it), the kernel is restarted and
  the student cells before the failure are replayed, so the incident costs only
  the affected cells.  Every incident is written to a ``<notebook>.grading.json``
  record next to the autograded notebook.
"""
from __future__ import annotations

import ast
import asyncio
import json
import os
import socket
import time

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Instance, Integer, Unicode, default

from gradekit.checking import CheckResult, inputs_salt

from ..assignment import Assignment
from ..assignment import load as load_assignment
from ..inputs import InputsSecret, submission_salt
from ..jobs import ExecutionResult, ResultCache, directory_files, fingerprint, grader_version, policy_values
from ..library_policy import LibraryWatch, graded_cell_before
from ..records import CheckOutcome, GradingRecord
from ..remote import CallTimedOut, KernelLost, RemoteStudent
from ..sandbox import Sandbox, SandboxPolicy
from .skip import SKIPPED_NOTE, is_skipped

RUN_FUNCTION = "run"
HIDDEN_MARK = "(hidden) "


class GradeCellError(ValueError):
    """An autograder test cell is not written the way the trusted executor expects."""


def check_calls(source: str) -> list[tuple[str, bool]]:
    """The ``run(group, hidden=...)`` calls of a test cell, in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise GradeCellError(f"test cell does not parse: {exc}") from None
    calls = []
    for node in tree.body:
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
            continue
        call = node.value
        if not (isinstance(call.func, ast.Name) and call.func.id == RUN_FUNCTION):
            continue
        if len(call.args) != 1 or not isinstance(call.args[0], ast.Constant) or not isinstance(call.args[0].value, str):
            raise GradeCellError(f"{RUN_FUNCTION}() needs one string literal (the check group)")
        hidden = False
        for kw in call.keywords:
            if kw.arg == "hidden" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool):
                hidden = kw.value.value
            else:
                raise GradeCellError(f"unsupported argument to {RUN_FUNCTION}(): {ast.dump(kw)}")
        calls.append((call.args[0].value, hidden))
    if not calls:
        raise GradeCellError(f"test cell has no {RUN_FUNCTION}(\"<group>\") call")
    return calls


def earned_points(results: list[CheckOutcome], points: float) -> float:
    """What a graded cell earns: its points split over its hidden checks by weight.

    A visible check earns nothing by itself (its inputs and expected values are printed in the
    student's notebook, so a table of answers could pass it), but a failing one counts against
    the cell like a failing hidden check: full points need every check of the cell to pass.
    A cell with no hidden check is all or nothing on its visible checks.
    """
    hidden = sum(r.weight for r in results if r.hidden)
    if not hidden:
        return points if results and all(r.passed for r in results) else 0.0
    against = hidden + sum(r.weight for r in results if not r.hidden and not r.passed)
    return points * sum(r.weight for r in results if r.hidden and r.passed) / against if against else 0.0


def report_outputs(results: list[CheckOutcome], points: float, partial_credit: bool) -> list:
    """Cell outputs for a graded cell, in the form nbgrader's ``determine_grade`` scores.

    A PASS/FAIL listing with each check's points goes to stdout.  All checks passed: nothing else
    (full points).  With ``partial_credit`` and points earned (:func:`earned_points`): an
    ``execute_result`` holding them (nbgrader's partial credit).  Otherwise, when a check failed:
    an error output (no points).
    """
    hidden_weight = sum(r.weight for r in results if r.hidden) or 1.0
    lines, failed = [], []
    for r in results:
        title = (HIDDEN_MARK if r.hidden else "") + r.title
        share = points * r.weight / hidden_weight
        worth = (f" ({share if r.passed else 0:.3g}/{share:.3g} points)" if r.hidden
                 else " (an example: no points of its own)")
        lines.append(f"[{'PASS' if r.passed else 'FAIL'}] {title}{worth}")
        if not r.passed:
            failed.append(r)
            lines.extend("       " + line for line in r.message.splitlines())
    total = len(results)
    earned = earned_points(results, points)
    scored = earned if (partial_credit or not failed) else 0.0
    lines.append(f"{total - len(failed)}/{total} checks passed: {scored:.3g} of {points:.3g} points.")
    outputs = [nbformat.v4.new_output("stream", name="stdout", text="\n".join(lines) + "\n")]
    if failed and partial_credit and earned > 0:
        outputs.append(nbformat.v4.new_output("execute_result", data={"text/plain": repr(min(earned, points))},
                                              execution_count=None))
    elif failed:
        summary = f"{len(failed)} of {total} checks failed. First failure: {failed[0].message}"
        outputs.append(nbformat.v4.new_output("error", ename="CheckFailure", evalue=summary,
                                              traceback=[f"CheckFailure: {summary}"]))
    return outputs


def cell_points(cell) -> float:
    return float(cell.metadata.get("nbgrader", {}).get("points", 0) or 0)


def cell_name(cell, index: int) -> str:
    """How records name a cell: its grade id, or its position."""
    return cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"


class TrustedExecute(Execute):
    """Execute student cells in a sandbox; grade test cells in the grader's own process."""

    policy = Instance(SandboxPolicy)
    record_timing = False  # no per-cell timestamps in the graded notebook (grading is reproducible)
    shutdown_kernel = "immediate"
    record_suffix = Unicode(".grading.json", help="Suffix of the per-notebook grading record").tag(config=True)
    cache_dir = Unicode("", help="Where executions are cached by content (empty: no cache); "
                                 "`python -m grader grade` fills it in parallel before nbgrader runs").tag(config=True)
    partial_credit = Bool(True, help="A graded cell earns, for every hidden check that passes, that check's share "
                                     "of its points (by the weights declared with the checks, equal by default; "
                                     "a failing visible check counts against the cell); False: all or nothing "
                                     "per cell").tag(config=True)

    interrupt_grace = Integer(15, help="Seconds a cell has, after the interrupt at its time limit, to stop and let "
                                       "the kernel go idle; a kernel that has not by then counts as unresponsive "
                                       "and is restarted").tag(config=True)

    @default("policy")
    def _policy_default(self):
        return SandboxPolicy(parent=self)

    # ------------------------------------------------------------- nbclient hooks
    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        self._output_used += size
        if self._output_used > self.policy.output_bytes:
            if not self._output_exceeded:
                self._output_exceeded = True
                self._output_cell = cell_index
                if self.km is not None:  # stop a runaway printer; the cell ends with KeyboardInterrupt
                    asyncio.ensure_future(self.km.interrupt_kernel())
            return None
        return super().output(outs, msg, display_id, cell_index)

    async def _async_handle_timeout(self, timeout, cell=None):
        """nbclient's hook at a cell's time limit: nbgrader's Execute interrupts the kernel; then the cell's
        last output and the kernel's idle have ``interrupt_grace`` seconds to arrive (nbclient's iopub_timeout
        would otherwise count a kernel slowed by a busy machine as one that ignored the interrupt)."""
        reply = await super()._async_handle_timeout(timeout, cell)
        self.iopub_timeout = self.interrupt_grace
        return reply

    # ------------------------------------------------------------- kernel control
    def _start_kernel(self) -> None:
        if self._record.kernel_starts == 0:  # the notebook's first kernel: its forbidden libraries (library_policy.py)
            self._libraries = LibraryWatch(self.policy, self._record.assignment, self._record)
            self._sandbox.hidden_modules = self._libraries.file_hidden()
        self._libraries.kernel_started()
        self.km = self._sandbox.kernel_manager(parent=self)
        self.start_new_kernel()
        self.start_new_kernel_client()
        self._record.kernel_starts += 1
        # the import guard and the agent thread start before any student code runs (public/imports.py, agent.py)
        bootstrap = nbformat.v4.new_code_cell(self._libraries.bootstrap() +
                                              f"__import__('gradekit.agent').agent.listen({self._agent_path!r})")
        status = self._execute(bootstrap, 0, 30, store_history=False)
        errors = [o for o in bootstrap.outputs if o.get("output_type") == "error"]
        if status != "ok" or errors:
            detail = f"{errors[0].get('ename')}: {errors[0].get('evalue')}" if errors else status
            raise RuntimeError(f"could not start the grading agent in the kernel: {detail}")

    @property
    def _agent_path(self) -> str:
        return os.path.join(self._sandbox.io, "agent.sock")

    def _agent_answers(self, student) -> bool:
        """A quick ping, so a stopped or replaced agent costs seconds, not a timeout per check."""
        student.timeout = 5
        try:
            return student.has("__name__") is True
        except (CallTimedOut, KernelLost, AssertionError):
            return False

    def _connect_agent(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(self._agent_path)
        return sock

    def _stop_kernel(self) -> None:
        if self.km is not None:
            try:
                self._cleanup_kernel()
            except Exception as exc:  # noqa: BLE001 - a dead kernel may fail to clean up; keep going
                self.log.warning("kernel cleanup: %s", exc)
            self.km = None
            self.kc = None

    def _remaining(self) -> float:
        return self._deadline - time.monotonic()

    def _execute(self, cell, index: int, limit: float, store_history: bool = True) -> str:
        """Run one cell; returns ok / timeout / unresponsive / dead."""
        self.timeout = max(1, int(min(limit, self._remaining())))
        self._last_limit = self.timeout
        self._last_limit_was_deadline = self._remaining() < limit
        original, iopub_timeout = self.nb.cells[index], self.iopub_timeout
        try:
            return self._execute_and_probe(cell, index, store_history)
        finally:
            # nbclient stores every cell it runs at its index: this one, then the probe
            self.nb.cells[index] = original
            self.iopub_timeout = iopub_timeout   # as it was before an interrupt's grace

    def _execute_and_probe(self, cell, index: int, store_history: bool) -> str:
        try:
            self.execute_cell(cell, index, store_history=store_history)
        except DeadKernelError:
            return "dead"
        except CellTimeoutError:
            return "unresponsive"
        except (RuntimeError, TimeoutError, asyncio.TimeoutError) as exc:
            self.log.warning("execution failed: %s", exc)
            return "dead" if not self._alive() else "unresponsive"
        if any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            probe = nbformat.v4.new_code_cell("pass")   # did the kernel survive the interrupt?
            self.timeout = 5
            try:
                self.execute_cell(probe, index, store_history=False)
            except Exception:  # noqa: BLE001 - any failure of the probe means the kernel is gone
                return "unresponsive"
            return "timeout"
        return "ok"

    def _note_process_limit(self, name: str) -> bool:
        """True (and an incident recorded) if the cell left the sandbox crowded with processes."""
        count = self._sandbox.process_count()
        if count >= self.policy.max_processes // 2:
            self._record.add("process_limit", name, f"{count} processes in the sandbox")
            return True
        return False

    def _note_time_limit(self, name: str) -> None:
        """Once per notebook: the cell where the notebook's time ran out."""
        if not any(i.kind == "time_limit" for i in self._record.incidents):
            self._record.add("time_limit", name, f"the notebook's {self.policy.submission_timeout} s ran out here; "
                                                 "later cells and checks were not run")

    def _alive(self) -> bool:
        return self.km is not None and self.km.has_kernel

    def _restart_and_replay(self, reason_cell: str) -> bool:
        """New kernel, then re-run the student cells that completed before; False if that failed."""
        self._stop_kernel()
        if self._remaining() <= 1 or self._record.kernel_starts >= self.max_kernel_starts:
            return False
        try:
            self._start_kernel()
        except Exception as exc:  # noqa: BLE001
            self._record.add("crashed", reason_cell, f"could not restart the kernel: {exc}")
            return False
        for index in self._completed:
            replay = nbformat.v4.new_code_cell(self.nb.cells[index].source)
            if self._execute(replay, index, self.policy.cell_timeout, store_history=False) != "ok":
                self._record.add("crashed", reason_cell, f"replaying cell {index} after a restart failed")
                return False
        return True

    max_kernel_starts = 4

    # ------------------------------------------------------------- cells
    def _cell_name(self, index: int) -> str:
        return cell_name(self.nb.cells[index], index)

    def _run_student_cell(self, index: int, cell) -> None:
        name = self._cell_name(index)
        # forbidden libraries: what the checks since the last student cell imported, then this cell's source
        # (trusted, before it runs), then what the import guard saw it do
        self._libraries.collect(graded_cell_before(self.nb, index) or name, self._connect_agent)
        self._libraries.scan_cell(name, cell.source)
        status = self._execute(cell, index, self.policy.cell_timeout)
        if status in ("ok", "timeout"):
            self._libraries.collect(name, self._connect_agent)
        if self._output_exceeded and self._output_cell is not None:
            self._record.add("too_much_output", name, f"more than {self.policy.output_bytes} bytes of output")
            cell.outputs = [nbformat.v4.new_output(
                "stream", name="stderr",
                text=f"Output stopped: this notebook printed more than {self.policy.output_bytes} bytes.\n")]
            self._output_cell = None
        fork_failed = False
        for out in cell.outputs:
            if out.get("output_type") != "error":
                continue
            evalue = str(out.get("evalue"))
            if out.get("ename") == "MemoryError":
                self._record.add("out_of_memory", name, "MemoryError")
            elif "[Errno 28]" in evalue or "[Errno 27]" in evalue:  # ENOSPC (sandbox disk), EFBIG (file size)
                self._record.add("disk_limit", name, f"{out.get('ename')}: {evalue}"[:200])
            elif out.get("ename") in ("BlockingIOError",) or "Resource temporarily unavailable" in evalue:
                self._record.add("process_limit", name, f"{out.get('ename')}: {out.get('evalue')}"[:200])
                fork_failed = True
        crowded = self._note_process_limit(name)
        if status == "unresponsive" and crowded:
            # the kernel is restarted without this cell either way; among the cell's own processes it may or may
            # not go idle within its limit after the interrupt, so that is not recorded as a second failure
            status = "timeout"
        if status == "timeout":
            if self._last_limit_was_deadline:
                self._note_time_limit(name)
            else:
                self._record.add("timeout", name, f"interrupted after {self._last_limit} s")
        if status in ("ok", "timeout") and not (fork_failed or crowded):
            self._completed.append(index)  # (after a timeout: the kernel survived the interrupt)
            return
        if status in ("dead", "unresponsive"):
            self._record.add("crashed" if status == "dead" else "unresponsive", name,
                             "the kernel died while running this cell" if status == "dead"
                             else f"the kernel ignored the interrupt after {self._last_limit} s")
        if fork_failed or crowded:
            # the processes it started (copies of the kernel, sharing its sockets) would slow or confuse
            # every later cell and check, and a replay would start them again: a new kernel, without it
            ename = "ProcessLimit"
            evalue = "this cell reached the sandbox's process limit; the kernel was restarted without it"
            shown = "This cell reached the sandbox's process limit; grading continued in a new kernel without it."
        else:
            ename = "KernelDied" if status == "dead" else "CellTimeoutError"
            evalue = "the kernel stopped while running this cell; it was restarted without it"
            shown = "The kernel stopped while running this cell; grading continued without it."
        cell.outputs.append(nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[shown]))
        if not self._restart_and_replay(name):
            self._kernel_gone = True

    def _grade_cell(self, index: int, cell) -> None:
        name = self._cell_name(index)
        calls = check_calls(cell.source)
        results: list[tuple[bool, CheckResult]] = []
        skip_reason = ""
        student = None
        for group, hidden in calls:
            registry = self._assignment.registry(hidden)
            for check in registry.in_group(group):
                if not skip_reason and self._remaining() <= 0:
                    skip_reason = "not run: the notebook reached its time limit"
                    self._note_time_limit(name)
                if not skip_reason and self._kernel_gone:
                    skip_reason = "not run: the kernel could not be restarted"
                if skip_reason:
                    results.append((hidden, CheckResult(group, check.name, check.title, False, skip_reason)))
                    continue
                if student is None:
                    student = RemoteStudent(self._connect_agent, timeout=1)
                    if not self._agent_answers(student):
                        self._record.add("agent_unavailable", name, "no answer to a ping")
                        student.close()
                        student = None
                        skip_reason = ("not run: the grading agent in your kernel did not answer "
                                       "(was it stopped or replaced by code in the notebook?)")
                        results.append((hidden, CheckResult(group, check.name, check.title, False, skip_reason)))
                        continue
                student.timeout = max(1.0, min(self.policy.check_timeout, self._remaining()))
                start = time.perf_counter()
                lost = ""
                try:
                    check.func(student)
                    passed, message = True, ""
                except AssertionError as exc:
                    passed, message = False, str(exc)
                except CallTimedOut:
                    passed = False
                    message = (f"timed out: a call into your code took longer than {student.timeout:g} s "
                               "(an infinite loop, or far too slow)")
                    lost = "check_timeout"
                except KernelLost:
                    passed, message = False, "the kernel died while this check was calling your code"
                    lost = "crashed"
                except Exception as exc:  # noqa: BLE001 - a bug in a check must not abort the submission
                    self.log.error("check %s raised %s: %s", check.name, type(exc).__name__, exc)
                    self._record.add("grader_error", name, f"{check.name}: {type(exc).__name__}: {exc}"[:300])
                    passed = False
                    message = ("the grader could not evaluate this check (an internal error, recorded for your "
                               "instructor); it is marked as failed until they review it")
                results.append((hidden, CheckResult(group, check.name, check.title, passed, message,
                                                    time.perf_counter() - start)))
                if not lost:
                    try:
                        student.reset()
                    except (CallTimedOut, KernelLost, AssertionError):
                        lost = "agent_unavailable"
                if lost:
                    # the agent thread is stuck in (or died with) student code: new kernel, replayed cells
                    self._record.add(lost, name, check.name)
                    student.close()
                    student = None
                    skip_reason = "not run: an earlier check of this cell timed out or crashed the kernel"
                    if not self._restart_and_replay(name):
                        self._kernel_gone = True
        if student is not None:
            student.close()
        if not self._kernel_gone:  # forbidden modules student code imported while these checks called it
            self._libraries.collect(name, self._connect_agent)
        outcomes = [CheckOutcome(name, r.name, r.title, hidden, r.passed, r.message, r.weight) for hidden, r in results]
        self._record.checks.extend(outcomes)
        cell.outputs = report_outputs(outcomes, cell_points(cell), self.partial_credit)
        cell.execution_count = None

    def render_grade_cells(self, nb, record: GradingRecord) -> None:
        """Write every graded cell's outputs from the record's check verdicts, with this executor's settings."""
        by_cell: dict[str, list[CheckOutcome]] = {}
        for outcome in record.checks:
            by_cell.setdefault(outcome.cell, []).append(outcome)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
                name = cell_name(cell, index)
                if name in by_cell:
                    cell.outputs = report_outputs(by_cell[name], cell_points(cell), self.partial_credit)

    # ------------------------------------------------------------- entry points
    def policy_key(self, assignment: str) -> str:
        return json.dumps(policy_values(self.policy, assignment), sort_keys=True)

    def course_root(self) -> str:
        return self.config.CourseDirectory.get("root") or os.getcwd()

    def assignment(self, resources: dict) -> Assignment:
        """The assignment being graded (named in nbgrader's resources), from the course's content."""
        name = resources.get("nbgrader", {}).get("assignment", "")
        return load_assignment(self.course_root(), name)

    def salt_for(self, nb, files: dict, resources: dict) -> bytes:
        """The submission's hidden-inputs salt, from the course secret (``c.InputsSecret.path``) and its identity:
        the assignment, the student and the notebook and files as executed (grader.engine.inputs)."""
        nbg = resources.get("nbgrader", {})
        secret = InputsSecret(parent=self).read(self.course_root())
        return submission_salt(secret, nbg.get("assignment", ""), nbg.get("student", ""), nb, files)

    def execution_key(self, nb, files: dict, assignment: Assignment, salt: bytes) -> str:
        return fingerprint(nb, files, self.policy_key(assignment.name), grader_version(*assignment.verdict_dirs()),
                           salt)

    def run_notebook(self, nb, files: dict, resources: dict, salt: bytes | None = None):
        """Execute ``nb`` in a fresh sandbox whose working directory holds ``files``; the hidden checks draw their
        inputs under ``salt`` (None: the submission's own, :meth:`salt_for`)."""
        nbg = resources.get("nbgrader", {})
        if salt is None:
            salt = self.salt_for(nb, files, resources)
        if not salt:
            raise ValueError("grading needs a hidden-inputs salt (an execution job without one is refused)")
        self._assignment = self.assignment(resources)
        self._record = GradingRecord(student=nbg.get("student", ""), assignment=nbg.get("assignment", ""),
                                     notebook=nbg.get("notebook", ""), sandbox=self.policy.describe(),
                                     key=self.execution_key(nb, files, self._assignment, salt),
                                     inputs_salt=salt.hex())
        started = time.monotonic()
        self._deadline = started + self.policy.submission_timeout
        self._output_used, self._output_exceeded, self._output_cell = 0, False, None
        self._completed: list[int] = []
        self._kernel_gone = False
        self.nb, self.resources = nb, resources
        self._sandbox = Sandbox(self.policy, files)
        self._record.sandbox = self._sandbox.describe()
        try:
            self._start_kernel()
            with inputs_salt(salt):
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    if utils.is_grade(cell) and not utils.is_solution(cell):
                        self._grade_cell(index, cell)
                    elif is_skipped(cell):
                        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=SKIPPED_NOTE)]
                        cell.execution_count = None
                    elif self._kernel_gone or self._remaining() <= 0:
                        cell.outputs = []
                    else:
                        self._run_student_cell(index, cell)
        finally:
            self._stop_kernel()
            self._sandbox.close()
        if self._remaining() <= 0:
            self._note_time_limit("notebook")
        self._record.seconds = round(time.monotonic() - started, 3)
        return nb, self._record

    def preprocess(self, nb, resources, km=None):
        """nbgrader entry point: use the cached execution of this exact notebook, or execute it now."""
        files = directory_files(resources.get("metadata", {}).get("path"))
        salt = self.salt_for(nb, files, resources)
        key = self.execution_key(nb, files, self.assignment(resources), salt)
        cache = ResultCache(self.cache_dir) if self.cache_dir else None
        cached = cache.get(key) if cache else None
        if cached is not None:
            executed = nbformat.reads(cached.nb_json, as_version=4)
            for cell, done in zip(nb.cells, executed.cells):
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = done.outputs, done.get("execution_count")
            record = GradingRecord.from_json(cached.record_json)
            nbg = resources.get("nbgrader", {})
            record.student, record.notebook = nbg.get("student", record.student), nbg.get("notebook", record.notebook)
        else:
            nb, record = self.run_notebook(nb, files, resources, salt)
            if cache:
                cache.put(ExecutionResult(key, record.student, nbformat.writes(nb), record.to_json()))
        # the verdicts are cached, the scoring is not: all-or-nothing or partial credit is read now
        self.render_grade_cells(nb, record)
        resources.setdefault("outputs", {})[f"{record.notebook}{self.record_suffix}"] = record.to_json().encode()
        resources["grading_record"] = record
        return nb, resources
