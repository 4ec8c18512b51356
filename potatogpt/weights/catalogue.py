"""The tensors a GPT-2 has: their names, stored shapes and file names, counted without listing.

Matrices are stored [out, in]: row j holds every weight feeding output channel j, so a
matrix-vector product is a dot product of the input with each stored row, read in file order.
Hugging Face's GPT-2 stores those matrices [in, out] (its "Conv1D"); the exporter transposes
once, at export time, so loading never has to.
"""

from __future__ import annotations

import math
import re
from pathlib import PurePosixPath, PureWindowsPath

from ..config import GPT2Config

FLOAT_BYTES = 4  # everything on disk is float32


class WeightsError(Exception):
    """A weights folder that cannot be used; the message is one line saying why and what to do."""


def missing_weights_hint(size: str) -> str:
    """The command that creates weights/<size>."""
    return f"python export_weights.py --model {size}"


# --- The tensors a GPT-2 has ------------------------------------------------------------------
# Per layer, in the order a forward pass meets them.  The shapes are as stored: [out, in] for
# matrices (see the module docstring), written in units of n_embd.
_LAYER_TENSORS: tuple[tuple[str, tuple[int, ...]], ...] = (
    # (suffix, shape in multiples of n_embd; a 1-tuple is a vector)
    ("ln_1.weight", (1,)),
    ("ln_1.bias", (1,)),
    ("attn.c_attn.weight", (3, 1)),
    ("attn.c_attn.bias", (3,)),
    ("attn.c_proj.weight", (1, 1)),
    ("attn.c_proj.bias", (1,)),
    ("ln_2.weight", (1,)),
    ("ln_2.bias", (1,)),
    ("mlp.c_fc.weight", (4, 1)),
    ("mlp.c_fc.bias", (4,)),
    ("mlp.c_proj.weight", (1, 4)),
    ("mlp.c_proj.bias", (1,)),
)
_LAYER_SHAPES: dict[str, tuple[int, ...]] = dict(_LAYER_TENSORS)
_LAYER_NAME = re.compile(r"h\.(0|[1-9][0-9]*)\.(.+)")


def tensor_count(config: GPT2Config) -> int:
    """len(tensor_names(config)), without building the list (a hostile n_layer may be 2**31)."""
    return 2 + len(_LAYER_TENSORS) * config.n_layer + 2


def parameter_count(config: GPT2Config) -> int:
    """How many numbers a GPT-2 of this config holds (124,439,808 for 124M), without listing
    its tensors (a hostile n_layer may be 2**31)."""
    per_layer = sum(math.prod(multiple * config.n_embd for multiple in multiples) for _, multiples in _LAYER_TENSORS)
    return (config.vocab_size + config.n_ctx) * config.n_embd + config.n_layer * per_layer + 2 * config.n_embd


def tensor_names(config: GPT2Config) -> list[str]:
    """Every tensor a GPT-2 of this config has, in file order (the order a forward pass reads)."""
    names = ["wte.weight", "wpe.weight"]
    for i in range(config.n_layer):
        names.extend(f"h.{i}.{suffix}" for suffix, _ in _LAYER_TENSORS)
    names.extend(["ln_f.weight", "ln_f.bias"])
    return names


def expected_shape(name: str, config: GPT2Config) -> tuple[int, ...]:
    """The shape `name` is stored with, for a GPT-2 of this config (matrices as [out, in])."""
    if name == "wte.weight":
        return (config.vocab_size, config.n_embd)
    if name == "wpe.weight":
        return (config.n_ctx, config.n_embd)
    if name in ("ln_f.weight", "ln_f.bias"):
        return (config.n_embd,)
    match = _LAYER_NAME.fullmatch(name)
    if match is not None and int(match[1]) < config.n_layer and match[2] in _LAYER_SHAPES:
        return tuple(multiple * config.n_embd for multiple in _LAYER_SHAPES[match[2]])
    raise WeightsError(f"{name!r} is not a tensor of a GPT-2 with {config.n_layer} layers")


def tensor_file_name(name: str) -> str:
    """The file a tensor is written to: its name plus a suffix that says what is inside."""
    return f"{name}.f32"


def check_config(config: GPT2Config, origin: str) -> None:
    """Refuse hyper-parameters no GPT-2 could have (they would make nonsense shapes later)."""
    for field in ("n_layer", "n_head", "n_embd", "n_ctx", "vocab_size"):
        value = getattr(config, field)
        if not 0 < value < 2**31:
            raise WeightsError(f"{origin}: {field} is {value}; it must be a positive whole number")
    if config.n_embd % config.n_head:
        raise WeightsError(f"{origin}: n_embd={config.n_embd} is not divisible by n_head={config.n_head}; "
                           "every attention head needs the same width")
    if not (math.isfinite(config.layer_norm_epsilon) and config.layer_norm_epsilon > 0):
        raise WeightsError(f"{origin}: layer_norm_epsilon is {config.layer_norm_epsilon}; it must be a positive number")


def is_plain_file_name(file: str) -> bool:
    """True for a name that stays inside its folder: no directories, no '..', not absolute.

    Checked with both POSIX and Windows rules, so a manifest written on one system cannot
    reach outside its folder on the other.
    """
    if file in ("", ".", "..") or "\x00" in file:
        return False
    return all(len(path.parts) == 1 and path.name == file for path in (PurePosixPath(file), PureWindowsPath(file)))


# --- The manifest -----------------------------------------------------------------------------


def matrix_names(config: GPT2Config) -> list[str]:
    """The tensors that are matrices multiplied by `@` (wpe is only ever looked up by row)."""
    return [n for n in tensor_names(config) if len(expected_shape(n, config)) == 2 and n != "wpe.weight"]
