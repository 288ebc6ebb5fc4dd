"""Checks for the Spatial Operations assignment.

In a notebook test cell::

    from spatial_checks import run
    run("test_conv2d_forward")

runs that cell's visible checks on the notebook's classes and prints what passed.
"""
from gradekit import CheckFailure, runner

__all__ = ["run", "CheckFailure"]

run = runner(f"{__name__}.visible_checks", hidden_module="assignments.09_spatial.hidden_checks")
