"""Checks for the Losses assignment.

In a notebook test cell::

    from losses_checks import run
    run("test_softmax")

runs that cell's visible checks on the notebook's functions and classes and prints what passed.
"""
from gradekit import CheckFailure, runner

__all__ = ["run", "CheckFailure"]

run = runner(f"{__name__}.visible_checks", hidden_module="assignments.04_losses.hidden_checks")
