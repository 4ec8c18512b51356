"""How far are --packed (and --compact) logits from the exact storage, on the committed references?

    python bench/packed_accuracy.py

For every checkpoint under checkpoints/, exports it to a temporary folder, runs
every reference sequence through each storage mode, and prints the largest logit difference
from exact mode and whether greedy decoding picks the same tokens.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from potatogpt.convert.export import convert  # noqa: E402
from potatogpt.api import load  # noqa: E402

CHECKPOINTS = ROOT / "checkpoints"


def main() -> int:
    print("| checkpoint | mode | max abs logit diff vs exact | max logit magnitude | greedy same as exact |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for source in sorted(p for p in CHECKPOINTS.iterdir() if (p / "reference.json").is_file()):
            reference = json.loads((source / "reference.json").read_text())
            folder = convert(source, Path(tmp) / source.name)
            exact = load(folder)
            sequences = [case["ids"] for case in reference["logits"]]
            prompts = [(case["prompt_ids"], len(case["new_ids"])) for case in reference["greedy"]]
            exact_logits = [exact.logits(ids) for ids in sequences]
            exact_greedy = [list(exact.generate(p, n, stop_at_eot=False)) for p, n in prompts]
            magnitude = max(abs(v) for rows in exact_logits for row in rows for v in row)
            for storage in ("packed", "compact"):
                model = load(folder, storage=storage)
                worst = max(
                    abs(a - b)
                    for ids, rows in zip(sequences, exact_logits)
                    for r1, r2 in zip(model.logits(ids), rows)
                    for a, b in zip(r1, r2)
                )
                same = all(list(model.generate(p, n, stop_at_eot=False)) == g for (p, n), g in zip(prompts, exact_greedy))
                print(f"| {source.name} | {storage} | {worst:.1e} | {magnitude:.1f} | {'yes' if same else 'NO'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
