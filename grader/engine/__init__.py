"""The grading engine: nbgrader extension points, sandboxed execution, batches, gradebook records."""
