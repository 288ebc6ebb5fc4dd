"""Sample submissions of Spatial Operations: correct styles (``styles/``), mutants, attacks."""
