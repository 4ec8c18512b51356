"""Freeze the three Unicode character classes GPT-2's pre-tokenizer needs into a Python module.

GPT-2 splits text with the `regex` package's `\\p{L}` (letters), `\\p{N}` (numbers) and `\\s`
(white space).  The standard library's `re` knows none of these, and what `str.isalpha()` says
depends on the Unicode version of the Python running it.  So we ask one Python, once, and write
the answers down as code-point ranges: potatogpt/data/unicode_classes.py.  Tokenization then gives
the same ids on every Python version.

Run it with the newest Python available (its Unicode tables are the newest):

    python3.13 tools/gen_unicode_classes.py            # rewrites potatogpt/data/unicode_classes.py
    python3.13 tools/gen_unicode_classes.py --stdout   # prints the module instead

Standard library only.
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "potatogpt" / "data" / "unicode_classes.py"

# Unicode's White_Space property (PropList.txt), which is what `\s` means in the `regex` package
# and in tiktoken.  It has not changed since Unicode 6.3, so it is written out rather than derived.
WHITE_SPACE_RANGES = [
    (0x0009, 0x000D), (0x0020, 0x0020), (0x0085, 0x0085), (0x00A0, 0x00A0), (0x1680, 0x1680),
    (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
]


def is_letter(c: str) -> bool:
    # \p{L} is general category L* (Lu Ll Lt Lm Lo), which is exactly where str.isalpha() is true.
    return c.isalpha()


def is_number(c: str) -> bool:
    # \p{N} is Nd, Nl and No: so '²', '½' and 'Ⅻ' count, not just the digits 0-9.
    return unicodedata.category(c).startswith("N")


def to_ranges(code_points: Iterable[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7, 9, 10] -> [(1, 3), (7, 7), (9, 10)]: sorted runs, each as (first, last)."""
    ranges: list[tuple[int, int]] = []
    for cp in sorted(code_points):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return ranges


def ranges_of(predicate: Callable[[str], bool]) -> list[tuple[int, int]]:
    return to_ranges(cp for cp in range(sys.maxunicode + 1) if predicate(chr(cp)))


def check_white_space() -> None:
    """Python's str.isspace() is White_Space plus U+001C..U+001F (the 'information separators').

    Checking that here catches a typo in WHITE_SPACE_RANGES, and documents the one difference
    that makes stdlib `\\s` unusable for GPT-2.
    """
    listed = {cp for first, last in WHITE_SPACE_RANGES for cp in range(first, last + 1)}
    isspace = {cp for cp in range(sys.maxunicode + 1) if chr(cp).isspace()}
    if isspace != listed | set(range(0x1C, 0x20)):
        raise SystemExit(f"White_Space table disagrees with str.isspace(): {sorted(isspace ^ listed)}")


def format_ranges(name: str, ranges: list[tuple[int, int]], doc: str) -> str:
    lines = [f"# {doc}", f"{name}: tuple[tuple[int, int], ...] = ("]
    per_line = 4
    for i in range(0, len(ranges), per_line):
        chunk = ranges[i : i + per_line]
        lines.append("    " + " ".join(f"(0x{a:04X}, 0x{b:04X})," for a, b in chunk))
    lines.append(")")
    return "\n".join(lines) + "\n"


def render() -> str:
    """The text of the generated module, for the Python running this script."""
    check_white_space()
    python = "%d.%d" % sys.version_info[:2]
    header = f'''\
"""Unicode character classes for GPT-2's pre-tokenizer, frozen as code-point ranges.

GENERATED FILE, DO NOT EDIT.  Made by tools/gen_unicode_classes.py with Python {python}
(Unicode {unicodedata.unidata_version}); rerun that script to change it.

Each table is a tuple of inclusive (first, last) code-point ranges, sorted.
"""

PYTHON_VERSION = "{python}"
UNICODE_VERSION = "{unicodedata.unidata_version}"

'''
    return "\n".join([
        header.rstrip("\n") + "\n",
        format_ranges("LETTER_RANGES", ranges_of(is_letter), r"\p{L}: general category L* (str.isalpha())."),
        format_ranges("NUMBER_RANGES", ranges_of(is_number), r"\p{N}: general category N* (Nd, Nl, No)."),
        format_ranges("WHITE_SPACE_RANGES", WHITE_SPACE_RANGES,
                      r"\s: the White_Space property (str.isspace() without U+001C..U+001F)."),
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stdout", action="store_true", help="print the module instead of writing it")
    args = parser.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
    else:
        OUTPUT.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {OUTPUT} (Python {sys.version.split()[0]}, Unicode {unicodedata.unidata_version})")


if __name__ == "__main__":
    main()
