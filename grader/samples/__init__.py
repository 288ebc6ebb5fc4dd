"""Sample submissions: correct solutions in several styles, and mutants with realistic bugs.

A *style* gives the full source of every solution cell of the assignment
(``styles/<name>.py``, one ``# %% <grade_id>`` section per cell).  The
``reference`` style is read from the instructor's source notebook itself.
``build_notebook`` fills a copy of the released notebook with a style's cells,
which is exactly what a student's submitted notebook looks like.
"""
