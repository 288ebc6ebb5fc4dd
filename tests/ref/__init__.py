"""Tests of the reference package tinytorch_ref (spatial module 09)."""
