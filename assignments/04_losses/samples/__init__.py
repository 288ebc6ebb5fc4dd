"""Sample submissions of Losses: correct styles (``styles/``) and mutants."""
