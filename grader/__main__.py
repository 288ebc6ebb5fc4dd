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
    g.add_argument("--workers", type=int, default=None, help="parallel executions (default: all cores)")
    g.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port) to run on a cluster")
    g.add_argument("--student", action="append", help="grade only these students (repeatable)")
    g.add_argument("--force", action="store_true", help="re-grade even unchanged submissions")
    sub.add_parser("feedback", help="HTML feedback for every autograded submission")
    e = sub.add_parser("export", help="grades CSV")
    e.add_argument("--to", default=None)
    sub.add_parser("table", help="print the per-student, per-cell score table")
    d = sub.add_parser("demo", help="release, sample submissions, grade, feedback, export, table")
    d.add_argument("--workers", type=int, default=None)
    lab = sub.add_parser("lab", help="JupyterLab with the nbgrader extensions on 127.0.0.1 (prints the URL with its token)")
    lab.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    lab.add_argument("--root", default=None, help="course directory to serve (default: this repository)")
    m = sub.add_parser("mutants", help="grade every mutant and correct alternative in a scratch course; kill table")
    m.add_argument("--workers", type=int, default=None, help="parallel executions (default: all cores)")
    m.add_argument("--only", action="append", metavar="MUTANT", help="grade only these mutants (repeatable)")
    m.add_argument("--style", action="append", metavar="STYLE", help="grade only these alternatives (repeatable)")
    m.add_argument("--keep", metavar="DIR", default=None, help="build the scratch course in DIR and keep it")
    m.add_argument("--in-process", action="store_true",
                   help="no notebooks or kernels: run the checks on each sample in this process (seconds)")
    args = parser.parse_args(argv)

    if args.command == "release":
        print(course.release())
    elif args.command == "grade":
        from . import batch
        outcomes = batch.grade_batch(workers=args.workers, scheduler=args.scheduler,
                                     students=args.student, force=args.force)
        return 0 if outcomes is not None else 1
    elif args.command == "feedback":
        print(course.feedback())
    elif args.command == "export":
        print(course.export(path=args.to))
    elif args.command == "table":
        from .demo import score_table
        print(score_table())
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
