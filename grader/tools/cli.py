"""Command line: ``python -m grader <command>`` (see ``--help``).

Commands about assignments take ``-a NAME`` (repeatable); without it they act on
every assignment of the course (``grader.engine.assignment.names``).
"""
from __future__ import annotations

import argparse
import os
import sys

from ..engine import course, grading_lock
from ..engine.assignment import AssignmentError, load_all


def _assignment_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--assignment", action="append", metavar="NAME",
                        help="only this assignment (repeatable; default: every assignment of the course)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description="course commands (nbgrader, trusted grading)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the course's assignments")
    new = sub.add_parser("new", help="a new assignment from the template: source/<name>/ and assignments/<name>/")
    new.add_argument("name", help="the nbgrader assignment id, e.g. 10_attention")
    new.add_argument("--title", required=True, help="what the assignment is called")
    new.add_argument("--checks", default=None, help="the checks package's name (default: <name>_checks)")
    rel = sub.add_parser("release", help="nbgrader generate_assignment into release/<assignment>")
    _assignment_option(rel)
    g = sub.add_parser("grade", help="autograde every submission under submitted/")
    _assignment_option(g)
    g.add_argument("--workers", type=int, default=None, help="parallel executions (default: cores + 1)")
    g.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port) to run on a cluster")
    g.add_argument("--student", action="append", help="grade only these students (repeatable)")
    g.add_argument("--force", action="store_true", help="re-grade even unchanged submissions")
    f = sub.add_parser("feedback", help="HTML feedback for every autograded submission")
    _assignment_option(f)
    z = sub.add_parser("collect-zip", help="nbgrader zip_collect of an LMS download: each student's latest "
                                           "notebook into submitted/<student>/<assignment>/")
    z.add_argument("zip", help="the LMS download, files named <student>_<lms id>_<upload id>_<original name>; "
                               "copied into downloaded/<assignment>/archive/")
    z.add_argument("-a", "--assignment", required=True, metavar="NAME", help="the assignment it holds")
    z.add_argument("--force", action="store_true", help="zip_collect --force: extract again and replace "
                                                        "the collected students' submissions")
    e = sub.add_parser("export", help="grades CSV (every assignment)")
    e.add_argument("--to", default=None)
    e.add_argument("--lms", metavar="PATH", default=None,
                   help="also write PATH: one row per student, one column of points per assignment (LMS import)")
    t = sub.add_parser("table", help="print the per-student, per-cell score table")
    _assignment_option(t)
    r = sub.add_parser("report", help="instructor report (HTML + PNG plots) under reports/<assignment>, "
                                      "with reports/index.html")
    r.add_argument("--out", metavar="DIR", default=None, help="write the reports into DIR instead")
    _assignment_option(r)
    sv = sub.add_parser("serve", help="grading service: grade each submission in the exchange as it arrives, "
                                      "record it and release its feedback to the student; runs until Ctrl-C")
    _assignment_option(sv)
    sv.add_argument("--root", default=None, help="course directory (default: this repository)")
    sv.add_argument("--workers", type=int, default=None, help="parallel executions (default: c.ServicePolicy.workers, "
                                                              "else cores + 1)")
    sv.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port) to execute on")
    sv.add_argument("--until-idle", action="store_true", help="stop once nothing is queued, waiting or running")
    st = sub.add_parser("status", help="the grading service's queue: counts, latencies, and (-v) every submission")
    st.add_argument("--root", default=None, help="course directory (default: this repository)")
    st.add_argument("--json", action="store_true", help="print the status as JSON")
    st.add_argument("-v", "--verbose", action="store_true", help="also list every submission with its state")
    d = sub.add_parser("demo", help="release, sample submissions, grade, feedback, export, table")
    d.add_argument("--workers", type=int, default=None)
    _assignment_option(d)
    lab = sub.add_parser("lab", help="JupyterLab with the nbgrader extensions on 127.0.0.1 "
                                     "(prints the URL with its token)")
    lab.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    lab.add_argument("--root", default=None, help="course directory to serve (default: this repository)")
    hub = sub.add_parser("hub", help="JupyterHub for the course on 127.0.0.1 (as root): Linux accounts with PAM "
                                     "logins, nbgrader's exchange, the instructor's course copy; prints the URL "
                                     "and the logins, runs until Ctrl-C")
    hub.add_argument("--port", type=int, default=None, help="the hub's port (default: a free one)")
    hub.add_argument("--instructor", default=None, metavar="NAME",
                     help="use this existing account as the instructor (or HUB_INSTRUCTOR; needs --student)")
    hub.add_argument("--student", action="append", metavar="NAME",
                     help="use this existing account as a student (repeatable; or HUB_STUDENTS='a b c')")
    hub.add_argument("--exchange", default=None, metavar="DIR",
                     help="nbgrader's exchange (or HUB_EXCHANGE; default: /srv/ml-systems-hub/exchange)")
    hub.add_argument("--due", action="append", metavar="ASSIGNMENT=DATE",
                     help="a due date for the gradebook, e.g. 09_spatial='2026-03-01 17:00:00 UTC' (repeatable)")
    hub.add_argument("--serve", action="store_true",
                     help="also run the grading service (python -m grader serve) as the instructor on the course "
                          "copy: each submission graded as it arrives, its feedback released to its student")
    hub.add_argument("--clean", action="store_true",
                     help="remove what `hub` made: its accounts and their homes, the exchange, the hub's state")
    m = sub.add_parser("mutants", help="grade every mutant and correct alternative in a scratch course; kill table")
    m.add_argument("--workers", type=int, default=None,
                   help="parallel executions (default: cores + 1; with --in-process, one per core)")
    m.add_argument("--only", action="append", metavar="MUTANT", help="grade only these mutants (repeatable)")
    m.add_argument("--style", action="append", metavar="STYLE", help="grade only these alternatives (repeatable)")
    m.add_argument("--keep", metavar="DIR", default=None, help="build the scratch course in DIR and keep it")
    m.add_argument("--in-process", action="store_true",
                   help="no notebooks or kernels: run the checks on each sample in this process (seconds)")
    _assignment_option(m)
    a = sub.add_parser("attacks", help="grade every hostile and broken submission next to good ones; verdict table")
    a.add_argument("--workers", type=int, default=None, help="parallel executions (default: cores + 1)")
    a.add_argument("--only", action="append", metavar="ATTACK", help="grade only these attacks (repeatable)")
    a.add_argument("--keep", metavar="DIR", default=None, help="build the scratch course in DIR and keep it")
    _assignment_option(a)
    cov = sub.add_parser("coverage", help="which cells of the hidden checks' coverage model each check hits; "
                                          "gaps fail")
    _assignment_option(cov)
    b = sub.add_parser("bench", help="stock nbgrader vs our grading: throughput, bounds, isolation overhead "
                                     "(one assignment that declares samples/bench.py; default: the first)")
    _assignment_option(b)
    b.add_argument("--n", type=int, default=12, help="synthetic submissions (default: 12)")
    b.add_argument("--workers", type=int, default=None, help="workers of the all-cores run (default: cores + 1)")
    b.add_argument("--keep", metavar="DIR", default=None, help="build the scratch courses in DIR and keep them")
    b.add_argument("--isolation", action=argparse.BooleanOptionalAction, default=True,
                   help="also time one correct submission: stock vs sandbox none vs bwrap (default: on)")
    b.add_argument("--repeats", type=int, default=3, help="repeats of each isolation measurement (default: 3)")
    b.add_argument("--scale", action="store_true", help="ours only, cheap mix, estimate first, lost-row check")
    b.add_argument("--mix", choices=["default", "cheap"], default=None, help="submission mix")
    bs = sub.add_parser("bench-service", help="the grading service under load on loopback against make grade and "
                                              "stock nbgrader on the same notebooks (grader/harness/bench_service.py)")
    _assignment_option(bs)
    for flag, kind, default, text in (
            ("--students", int, 50, "students (default: 50)"),
            ("--per-student", int, 3, "submissions each (default: 3)"), ("--bursts", int, 3, "bursts (default: 3)"),
            ("--gap", float, 60.0, "seconds between burst starts (default: 60)"),
            ("--eager", int, None, "students who hand in one more, in the first burst (default: a tenth)"),
            ("--rate-limit", int, 3, "c.ServicePolicy.rate_limit (default: 3)"),
            ("--rate-window", float, 60.0, "c.ServicePolicy.rate_window, seconds (default: 60)"),
            ("--workers", int, None, "workers of the service and of make grade (default: cores + 1)"),
            ("--stock", int, None, "stock nbgrader on an even sample of this many notebooks (default: all; 0: none)"),
            ("--timeout", float, 3600.0, "seconds the load may take after its last burst (default: 3600)"),
            ("--keep", str, None, "build the scratch courses in this folder and keep them"),
            ("--out", str, None, "the JSON result (default: artifacts/bench-service/result.json)")):
        bs.add_argument(flag, type=kind, default=default, help=text)
    bs.add_argument("--breakdown", action=argparse.BooleanOptionalAction, default=True,
                    help="where one submission's CPU goes, per step (default: on)")
    bs.add_argument("--idle", action=argparse.BooleanOptionalAction, default=True,
                    help="the idle service's submit-to-feedback time (default: on)")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (AssignmentError, grading_lock.CourseBusy) as exc:   # CourseBusy: another process grades the course
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args) -> int:
    root = course.ROOT
    chosen = getattr(args, "assignment", None)
    if args.command == "new":
        from .new_assignment import NewAssignmentError, create
        try:
            create(root, args.name, args.title, args.checks)
        except NewAssignmentError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    elif args.command == "serve":
        from ..engine.service.server import GradingService, ServiceError
        try:
            service = GradingService(args.root or root, workers=args.workers, scheduler=args.scheduler,
                                     assignments=chosen)
        except ServiceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        service.install_signal_handlers()
        service.run(until_idle=args.until_idle)
    elif args.command == "status":
        from ..engine.service.queue import status_report
        print(status_report(args.root or root, as_json=args.json, verbose=args.verbose))
    elif args.command == "list":
        for assignment in load_all(root):
            print(f"{assignment.name}\t{assignment.title}")
    elif args.command == "release":
        for assignment in load_all(root, chosen):
            print(course.release(assignment.name, root))
    elif args.command == "grade":
        from ..engine import batch
        with grading_lock.hold(root, "a batch grading (python -m grader grade)"):   # every assignment in one hold
            for assignment in load_all(root, chosen):
                print(f"== {assignment.name}")
                batch.grade_batch(assignment.name, root, workers=args.workers, scheduler=args.scheduler,
                                  students=args.student, force=args.force)
    elif args.command == "feedback":
        failed = False
        for assignment in load_all(root, chosen):
            try:
                print(course.feedback(assignment.name, root))
            except course.FeedbackFailed as exc:  # every other student has their feedback
                print(f"error: {assignment.name}: {exc}", file=sys.stderr)
                failed = True
        return 1 if failed else 0
    elif args.command == "collect-zip":
        from .lms import CollectFailed, collect_zip
        load_all(root, [args.assignment])
        if not os.path.isfile(args.zip):
            print(f"error: no file {args.zip}", file=sys.stderr)
            return 2
        try:
            collection = collect_zip(args.zip, args.assignment, root, force=args.force)
        except CollectFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print("\n".join(collection.lines()))
    elif args.command == "export":
        print(course.export(root, path=args.to))
        if args.lms:
            from .lms import export_lms
            print(export_lms(args.lms, root))
    elif args.command == "table":
        from .demo import score_table
        for assignment in load_all(root, chosen):
            print(f"{assignment.name}: {assignment.title}")
            print(score_table(assignment.name, root))
    elif args.command == "report":
        from .report import NothingGraded, build_index, build_report
        out = args.out or os.path.join(root, "reports")
        reports: dict[str, str | None] = {}
        for assignment in load_all(root, chosen):
            try:
                reports[assignment.name] = build_report(assignment.name, root,
                                                        out_dir=os.path.join(out, assignment.name))
                print(reports[assignment.name])
            except NothingGraded as exc:
                print(f"error: {exc}", file=sys.stderr)
                reports[assignment.name] = None
        if not any(reports.values()):
            return 1
        print(build_index(reports, out))
    elif args.command == "demo":
        from .demo import run_demo
        run_demo(root, workers=args.workers, only=chosen)
    elif args.command == "lab":
        from . import lab
        return lab.main(root=args.root or root, port=args.port)
    elif args.command == "hub":
        from . import hub as course_hub
        try:
            site = course_hub.site_from_options(args.instructor, args.student, args.exchange, args.due)
        except course_hub.HubError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return course_hub.clean_main(site) if args.clean else course_hub.main(site, port=args.port, serve=args.serve)
    elif args.command == "mutants":
        from ..harness.mutation import main as mutants_main
        return mutants_main(load_all(root, chosen), workers=args.workers, only=args.only, styles=args.style,
                            keep=args.keep, in_process=args.in_process)
    elif args.command == "attacks":
        from ..harness.attack_suite import main as attacks_main
        return attacks_main(load_all(root, chosen), workers=args.workers, only=args.only, keep=args.keep)
    elif args.command == "coverage":
        from ..harness.coverage import main as coverage_main
        return coverage_main(load_all(root, chosen))
    elif args.command == "bench":
        from ..harness.bench_grading import main as bench_main
        declared = [a for a in load_all(root, chosen) if a.has("samples.bench")]
        if not declared:
            print("error: no chosen assignment declares samples/bench.py", file=sys.stderr)
            return 2
        return bench_main(declared[0], n=args.n, workers=args.workers, keep=args.keep, isolation=args.isolation,
                          repeats=args.repeats, scale=args.scale, mix=args.mix)
    elif args.command == "bench-service":
        from ..harness.bench_service import main as bench_service_main
        declared = [a for a in load_all(root, chosen) if a.has("samples.bench")]
        if not declared:
            print("error: no chosen assignment declares samples/bench.py", file=sys.stderr)
            return 2
        return bench_service_main(declared[0], **{k: v for k, v in vars(args).items()
                                                  if k not in ("command", "assignment")})
    return 0
