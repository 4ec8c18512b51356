from collections.abc import Mapping

from potatogpt.tokenizer import merge


def bpe(symbols: str, ranks: Mapping[tuple[str, str], int]) -> list[str]:
    parts = list(symbols)
    while len(parts) >= 2:
        best = min(zip(parts, parts[1:]), key=lambda pair: ranks.get(pair, len(ranks)))
        if best not in ranks:
            break
        parts = merge(parts, best)
    return "".join(parts)  # mypy: return-value
