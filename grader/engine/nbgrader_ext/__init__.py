"""nbgrader plumbing: small preprocessors plugged in through nbgrader_config.py."""
