"""Make docs/pictures/*.png: each instrument's page for one text, as headless Chromium shows it.

    python tools/make_pictures.py [--weights DIR] [--text TEXT]

Without --weights, the committed tiny checkpoint (checkpoints/tiny-vocab) is
exported into a temporary folder: its weights are random, so its guesses are nonsense, but every
shape and mechanism is GPT-2's.  The pages are written beside the pictures' folder's temporary
copy, never committed; the PNGs are (a few hundred KB in all).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

import potatogpt  # noqa: E402  (after the path is set)
from potatogpt import instruments, pages  # noqa: E402
from potatogpt.convert.export import convert  # noqa: E402
from potatogpt.instruments import Setting  # noqa: E402
from tools.headless import chromium, screenshot  # noqa: E402

# (name, window width, window height): tall enough for each page's pictures.
WINDOWS = {"tokens": (1280, 1000), "trace": (1280, 1500), "attention": (1280, 1500), "lens": (1280, 640),
           "score": (1280, 1000), "sample": (1280, 1500)}
SETTINGS = (Setting(1.0), Setting(0.5), Setting(1.0, top_k=10), Setting(1.0, top_p=0.5))


def sections(model: potatogpt.GPT2, text: str) -> list[pages.Section]:
    ids = model.tokenizer.encode(text)
    return [instruments.explain_tokens(model.tokenizer, text).section(),
            instruments.trace(model, ids).section(),
            instruments.attention_patterns(model, ids).section(layer=1, head=0),
            instruments.lens_grid(model, ids).section(),
            instruments.score(model, text).section(),
            instruments.sampling_lab(model.next_token_logits(ids), SETTINGS, 100, 0,
                                     tokenizer=model.tokenizer).section(after=text, rows=8)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--text", default="The cat sat on the mat because it was")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "pictures")
    args = parser.parse_args()
    if chromium() is None:
        sys.exit("make_pictures: chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.weights
        if folder is None:
            folder = Path(scratch) / "tiny-vocab"
            convert(ROOT / "checkpoints" / "tiny-vocab", folder)
        model = potatogpt.load(folder)
        args.out.mkdir(parents=True, exist_ok=True)
        for section in sections(model, args.text):
            page = pages.write_page(Path(scratch) / f"{section.anchor}.html", pages.standalone(section, args.text))
            png = args.out / f"{section.anchor}.png"
            screenshot(page, png, *WINDOWS[section.anchor])
            print(f"wrote {png} ({png.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
