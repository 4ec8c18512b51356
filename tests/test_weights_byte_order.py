"""Every file holds little-endian numbers (weights/byte_order.py): a big-endian host swaps them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from potatogpt.weights.checkpoint import open_checkpoint


def test_big_endian_hosts_byte_swap(tiny_export: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoint = open_checkpoint(tiny_export)
    native = checkpoint.read("ln_f.weight")
    monkeypatch.setattr(sys, "byteorder", "big")
    swapped = checkpoint.read("ln_f.weight")
    monkeypatch.undo()
    swapped.byteswap()
    assert swapped.tobytes() == native.tobytes()
