"""The course's assignments: one content package per ``source/<name>/`` folder.

See ``grader/engine/assignment.py`` for what a content package declares.  Names
follow nbgrader's assignment ids (``09_spatial``), so they are imported with
``importlib`` (``grader.engine.assignment.load``).
"""
