"""The answer key: each exercise solved by hand, the way the lesson asks."""
