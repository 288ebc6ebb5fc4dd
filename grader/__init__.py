"""The course's grading system.

``grader.engine``   nbgrader plumbing, sandbox, batches, gradebook: knows no assignment's content
``grader.tools``    the instructor's commands on top (CLI, demo, report, lab)
``grader.harness``  what proves the engine (mutants, attacks, coverage, benchmark); the engine never imports it
"""
