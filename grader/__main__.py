"""``python -m grader <command>``: the instructor's command line (grader.tools.cli)."""
import sys

from grader.tools.cli import main

sys.exit(main())
