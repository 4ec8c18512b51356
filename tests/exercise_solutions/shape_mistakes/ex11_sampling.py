from collections.abc import Sequence


def top_k_candidates(probs: Sequence[float], k: int) -> list[int]:
    return sorted(probs, reverse=True)[:k]  # mypy: return-value
