"""Harnesses that prove the engine and an assignment's checks: mutants, attacks, coverage, benchmark,
scratch courses."""
