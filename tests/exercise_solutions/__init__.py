"""Solutions for tests/test_exercises.py: see README.md here."""
