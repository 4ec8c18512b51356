"""Loss curves drawn with characters, for the end of a training run in a terminal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Point = tuple[int, float]  # (step, loss)


def plot(curves: Mapping[str, Sequence[Point]], marks: Mapping[str, str], *, width: int = 64,
         height: int = 14) -> list[str]:
    """The curves on one chart: steps across, loss up, one character per curve (`marks`), where
    two curves share a cell the later one's mark wins.  A legend and the axes' ranges around it."""
    points = [p for curve in curves.values() for p in curve]
    if not points:
        return []
    first, last = min(s for s, _ in points), max(s for s, _ in points)
    low, high = min(v for _, v in points), max(v for _, v in points)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    grid = [[" "] * width for _ in range(height)]
    for name, curve in curves.items():
        for step, value in curve:
            x = 0 if last == first else round((step - first) / (last - first) * (width - 1))
            y = round((high - value) / (high - low) * (height - 1))
            grid[y][x] = marks[name]
    label = max(len(f"{high:.3f}"), len(f"{low:.3f}"))
    lines = []
    for row, cells in enumerate(grid):
        axis = f"{high:.3f}" if row == 0 else f"{low:.3f}" if row == height - 1 else ""
        lines.append(f"{axis:>{label}} |{''.join(cells)}")
    lines.append(" " * label + " +" + "-" * width)
    steps = f"step {first}"
    lines.append(" " * (label + 2) + steps + f"step {last}".rjust(width - len(steps)))
    legend = "   ".join(f"{marks[name]} {name}" for name in curves)
    lines.append(" " * (label + 2) + legend)
    return lines
