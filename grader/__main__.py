"""Command line: ``python -m grader <command>`` (see ``--help``)."""
from __future__ import annotations

import argparse
import sys

from . import course


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description="Spatial Operations course commands")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("release", help="nbgrader generate_assignment into release/09_spatial")
    g = sub.add_parser("grade", help="autograde every submission under submitted/")
    g.add_argument("--workers", type=int, default=None, help="parallel executions (default: cores + 1)")
    g.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port) to run on a cluster")
    g.add_argument("--student", action="append", help="grade only these students (repeatable)")
    g.add_argument("--force", action="store_true", help="re-grade even unchanged submissions")
    sub.add_parser("feedback", help="HTML feedback for every autograded submission")
    e = sub.add_parser("export", help="grades CSV")
    e.add_argument("--to", default=None)
    sub.add_parser("table", help="print the per-student, per-cell score table")
    r = sub.add_parser("report", help="instructor report (HTML + PNG plots) under reports/09_spatial")
    r.add_argument("--out", metavar="DIR", default=None, help="write the report into DIR instead")
    d = sub.add_parser("demo", help="release, sample submissions, grade, feedback, export, table")
    d.add_argument("--workers", type=int, default=None)
    lab = sub.add_parser("lab", help="JupyterLab with the nbgrader extensions on 127.0.0.1 (prints the URL with its token)")
    lab.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    lab.add_argument("--root", default=None, help="course directory to serve (default: this repository)")
    m = sub.add_parser("mutants", help="grade every mutant and correct alternative in a scratch course; kill table")
    m.add_argument("--workers", type=int, default=None,
                   help="parallel executions (default: cores + 1; with --in-process, one per core)")
    m.add_argument("--only", action="append", metavar="MUTANT", help="grade only these mutants (repeatable)")
    m.add_argument("--style", action="append", metavar="STYLE", help="grade only these alternatives (repeatable)")
    m.add_argument("--keep", metavar="DIR", default=None, help="build the scratch course in DIR and keep it")
    m.add_argument("--in-process", action="store_true",
                   help="no notebooks or kernels: run the checks on each sample in this process (seconds)")
    a = sub.add_parser("attacks", help="grade every hostile and broken submission next to good ones; verdict table")
    a.add_argument("--workers", type=int, default=None, help="parallel executions (default: cores + 1)")
    a.add_argument("--only", action="append", metavar="ATTACK", help="grade only these attacks (repeatable)")
    a.add_argument("--keep", metavar="DIR", default=None, help="build the scratch course in DIR and keep it")
    sub.add_parser("coverage", help="which cells of the hidden checks' coverage model each check hits; gaps fail")
    b = sub.add_parser("bench", help="stock nbgrader vs our grading: throughput, bounds, isolation overhead")
    b.add_argument("--n", type=int, default=12, help="synthetic submissions (default: 12)")
    b.add_argument("--workers", type=int, default=None, help="workers of the all-cores run (default: cores + 1)")
    b.add_argument("--keep", metavar="DIR", default=None, help="build the scratch courses in DIR and keep them")
    b.add_argument("--isolation", action=argparse.BooleanOptionalAction, default=True,
                   help="also time one correct submission: stock vs sandbox none vs bwrap (default: on)")
    b.add_argument("--repeats", type=int, default=3, help="repeats of each isolation measurement (default: 3)")
    b.add_argument("--scale", action="store_true", help="ours only, cheap mix, estimate first, lost-row check")
    b.add_argument("--mix", choices=["default", "cheap"], default=None, help="submission mix")
    args = parser.parse_args(argv)

    if args.command == "release":
        print(course.release())
    elif args.command == "grade":
        from . import batch
        outcomes = batch.grade_batch(workers=args.workers, scheduler=args.scheduler,
                                     students=args.student, force=args.force)
        return 0 if outcomes is not None else 1
    elif args.command == "feedback":
        try:
            print(course.feedback())
        except course.FeedbackFailed as exc:  # every other student has their feedback
            print(f"error: {exc}", file=sys.stderr)
            return 1
    elif args.command == "export":
        print(course.export(path=args.to))
    elif args.command == "table":
        from .demo import score_table
        print(score_table())
    elif args.command == "report":
        from .report import NothingGraded, build_report
        try:
            print(build_report(out_dir=args.out))
        except NothingGraded as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    elif args.command == "demo":
        from .demo import run_demo
        run_demo(workers=args.workers)
    elif args.command == "lab":
        from . import lab
        return lab.main(root=args.root or course.ROOT, port=args.port)
    elif args.command == "mutants":
        from .mutation import main as mutants_main
        return mutants_main(workers=args.workers, only=args.only, styles=args.style, keep=args.keep,
                            in_process=args.in_process)
    elif args.command == "attacks":
        from .attack_suite import main as attacks_main
        return attacks_main(workers=args.workers, only=args.only, keep=args.keep)
    elif args.command == "coverage":
        from .coverage import main as coverage_main
        return coverage_main(course.ROOT)
    elif args.command == "bench":
        from .bench_grading import main as bench_main
        return bench_main(n=args.n, workers=args.workers, keep=args.keep, isolation=args.isolation,
                          repeats=args.repeats, scale=args.scale, mix=args.mix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
