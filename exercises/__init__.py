"""Build GPT-2 yourself: numbered exercises, graded by mypy (shapes) and by `python -m exercises`
(values, against potatogpt's own functions).  Start with README.md in this folder."""
