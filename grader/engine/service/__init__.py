"""The grading service: submissions in nbgrader's exchange graded and fed back as they arrive.

``server.GradingService`` (``python -m grader serve``) runs the loop; ``queue`` is its durable queue;
``exchange`` finds, collects and answers submissions through nbgrader's exchange classes; ``policy``
is what ``nbgrader_config.py`` sets (``c.ServicePolicy.*``).
"""
