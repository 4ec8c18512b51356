"""Exercise 1, solved."""

from __future__ import annotations

from collections.abc import Mapping


def bytes_to_unicode() -> dict[int, str]:
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    others = [b for b in range(256) if b not in table]
    for n, b in enumerate(others):
        table[b] = chr(256 + n)
    return table


def merge(parts: list[str], pair: tuple[str, str]) -> list[str]:
    merged: list[str] = []
    i = 0
    while i < len(parts):
        if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
            merged.append(parts[i] + parts[i + 1])
            i += 2
        else:
            merged.append(parts[i])
            i += 1
    return merged


def bpe(symbols: str, ranks: Mapping[tuple[str, str], int]) -> list[str]:
    parts = list(symbols)
    while True:
        known = [pair for pair in zip(parts, parts[1:]) if pair in ranks]
        if not known:
            return parts
        parts = merge(parts, min(known, key=lambda pair: ranks[pair]))
