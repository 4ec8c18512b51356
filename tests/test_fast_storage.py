"""The storages (fast/storage.py): every fast layout, reached the way the model reaches it
(`x @ weight`), against tensor.py's plain product of the same numbers, and whole models against
exact storage: the fast path may change the speed, never the result."""

from __future__ import annotations

import random
from array import array

import pytest

from helpers import CHECKPOINT_NAMES, Exported, ints, load_exported, reference_cases
from potatogpt.api import Storage
from potatogpt.fast.storage import FastStorage as Layout, fast_weight
from potatogpt.tensor import ONE, Embed, Embedding, Hidden, Seq, ShapeError, Vocab, from_rows, matmul, weight_from_flat


# --- One weight -------------------------------------------------------------------------------
# Packed weights are fixed point: within float32-like accuracy of the plain product.
TOLERANCE: dict[Layout, float] = {"exact": 1e-12, "compact": 1e-12, "packed": 1e-6}


def stored_matrix(n_in: int, n_out: int, seed: int) -> array[float]:
    """A weights file's matrix: n_out columns of n_in float32 numbers, back to back."""
    rng = random.Random(seed)
    return array("f", [rng.gauss(0.0, 0.5) for _ in range(n_in * n_out)])


@pytest.mark.parametrize("layout", ["exact", "compact", "packed"])
def test_fast_weights_compute_the_plain_product(layout: Layout) -> None:
    n_in, n_out = Embed(7), Hidden(13)
    stored = stored_matrix(n_in, n_out, seed=1)
    plain = weight_from_flat(stored, n_in, n_out)
    fast = fast_weight(stored, n_in, n_out, layout)
    assert plain.fast is None and fast.fast is not None
    rng = random.Random(2)
    for n_rows in (1, 3):
        x = from_rows([[rng.gauss(0.0, 3.0) for _ in range(n_in)] for _ in range(n_rows)], Seq(n_rows), n_in)
        expected = matmul(x.rows, plain.columns)
        got = (x @ fast).rows
        assert len(got) == n_rows
        for row, want in zip(got, expected):
            assert row == pytest.approx(want, abs=TOLERANCE[layout] * 20)
    for j in (0, 6, 12):
        assert fast.column(j) == pytest.approx(plain.column(j), abs=TOLERANCE[layout])
    with pytest.raises(ShapeError, match="out of range"):
        fast.column(13)


@pytest.mark.parametrize("layout", ["exact", "compact", "packed"])
def test_a_tied_embedding_reads_its_rows_out_of_a_fast_layout(layout: Layout) -> None:
    stored = stored_matrix(4, 9, seed=3)  # wte as stored: 9 tokens' vectors of 4 numbers
    table = Embedding(fast_weight(stored, Embed(4), Vocab(9), layout))
    assert table.lookup([8, 0], Seq(2)).rows == [
        pytest.approx(stored[32:36].tolist(), abs=TOLERANCE[layout]),
        pytest.approx(stored[0:4].tolist(), abs=TOLERANCE[layout]),
    ]
    x = from_rows([[1.0, -2.0, 0.5, 3.0]], ONE, Embed(4))
    plain = weight_from_flat(stored, Embed(4), Vocab(9))
    assert (x @ table.T).rows[0] == pytest.approx(matmul(x.rows, plain.columns)[0], abs=1e-5)


# --- Whole models, on the committed checkpoints -----------------------------------------------
# Compact storage holds the same float32 numbers as exact and computes in float64; packed is
# fixed point (bench/packed_accuracy.py measured at most 7e-7 on these checkpoints).
@pytest.mark.parametrize(("storage", "bound"), [("reference", 1e-9), ("compact", 1e-9), ("packed", 1e-5)])
@pytest.mark.parametrize("name", CHECKPOINT_NAMES)
def test_other_storages_stay_close_to_exact(exported: Exported, name: str, storage: Storage, bound: float) -> None:
    case = max(reference_cases(name, "logits"), key=lambda c: len(ints(c["ids"])))
    ids = ints(case["ids"])
    exact = load_exported(exported, name, "exact").logits(ids)
    other = load_exported(exported, name, storage).logits(ids)
    worst = max(abs(a - b) for r1, r2 in zip(exact, other) for a, b in zip(r1, r2))
    assert worst < bound
