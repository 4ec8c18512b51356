"""Speed: everything here is an optimisation of arithmetic that `potatogpt/tensor.py` does plainly.

Nothing in this package changes what is computed, only how fast and in how much memory; the tests
check each layout against the plain product.
"""
