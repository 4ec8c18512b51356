"""Speed: faster ways to hold a weight matrix and to multiply by it.

Everything here is an optimisation of arithmetic that potatogpt/tensor.py does plainly (`matmul`,
one `dot` per output): it changes how fast the product runs and how much memory the weights
take, not what is computed.  tests/test_fast_kernels.py checks each storage against the plain
product.  The only door into this package from the reading path is `Weight.fast` (see tensor.py).

    storage.py        the storages ("exact", "compact", "packed"): a weights file in, a fast Weight out
    kernels.py        the products, dispatched to exact.py, compact.py, packed.py (shared.py: their common parts)
    packed_cache.py   --packed's quantized weights kept on disk, so quantizing happens once
    parallel.py       --jobs N: each matrix split by output columns across worker processes
    gc.py             the cycle collector paused while the many small weight objects are built
    training.py       a training step: the backward products on the exact kernel (backward.py is the reference)
    bpe_learning.py   learning BPE merges incrementally (learn_bpe.py's plain loop is the reference)
    bpe.py            the tokenizer's BPE in O(n log n), for freak words (tokenizer.bpe is the reference)

This file imports nothing, so that any one of them loads without the rest.
"""
