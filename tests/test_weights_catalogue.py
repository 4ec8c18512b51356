"""The tensors a GPT-2 has (weights/catalogue.py): names in file order, stored shapes, counts."""

from __future__ import annotations

import math

import pytest

from helpers import TINY_CONFIG, one_line_error
from potatogpt.config import MODEL_SIZES
from potatogpt.weights.catalogue import (
    WeightsError, expected_shape, is_plain_file_name, parameter_count, tensor_count, tensor_names,
)


def test_tensor_names_in_file_order() -> None:
    names = tensor_names(TINY_CONFIG)
    assert names[:4] == ["wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.ln_1.bias"]
    assert names[-2:] == ["ln_f.weight", "ln_f.bias"]
    assert len(names) == len(set(names)) == 2 + 12 * TINY_CONFIG.n_layer + 2
    assert len(tensor_names(MODEL_SIZES["124M"])) == 148


def test_expected_shapes_are_out_by_in() -> None:
    e = TINY_CONFIG.n_embd
    assert expected_shape("wte.weight", TINY_CONFIG) == (64, e)
    assert expected_shape("wpe.weight", TINY_CONFIG) == (32, e)
    assert expected_shape("h.1.ln_2.bias", TINY_CONFIG) == (e,)
    assert expected_shape("h.0.attn.c_attn.weight", TINY_CONFIG) == (3 * e, e)
    assert expected_shape("h.0.attn.c_attn.bias", TINY_CONFIG) == (3 * e,)
    assert expected_shape("h.0.attn.c_proj.weight", TINY_CONFIG) == (e, e)
    assert expected_shape("h.0.mlp.c_fc.weight", TINY_CONFIG) == (4 * e, e)
    assert expected_shape("h.0.mlp.c_fc.bias", TINY_CONFIG) == (4 * e,)
    assert expected_shape("h.0.mlp.c_proj.weight", TINY_CONFIG) == (e, 4 * e)
    assert expected_shape("ln_f.weight", TINY_CONFIG) == (e,)
    total = sum(math.prod(expected_shape(n, MODEL_SIZES["124M"])) for n in tensor_names(MODEL_SIZES["124M"]))
    assert total == 124_439_808  # GPT-2 small's parameter count, the "124M"


@pytest.mark.parametrize("name", ["lm_head.weight", "h.2.ln_1.weight", "h.01.ln_1.weight", "h.0.attn.bias", "wte"])
def test_unknown_tensor_names_are_refused(name: str) -> None:
    with pytest.raises(WeightsError) as excinfo:
        expected_shape(name, TINY_CONFIG)
    one_line_error(excinfo, repr(name))


def test_plain_file_names_are_accepted() -> None:
    assert is_plain_file_name("h.0.attn.c_attn.weight.f32")
    assert is_plain_file_name("vocab.json")


def test_counts_without_listing() -> None:
    assert parameter_count(MODEL_SIZES["124M"]) == 124_439_808  # GPT-2 small, as published
    assert tensor_count(MODEL_SIZES["124M"]) == 148
    assert parameter_count(MODEL_SIZES["1558M"]) == 1_557_611_200
