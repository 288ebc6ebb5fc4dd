"""The instructor's tools on top of the engine: command line, demo, report, JupyterLab."""
