"""JSON from files we did not write: one parser that fails with a one-line reason, never a traceback.

`json.loads` refuses bad syntax with a JSONDecodeError, but valid-looking JSON can still blow up
in ways that are not JSONDecodeErrors: arrays nested thousands deep exhaust the recursion limit
(RecursionError), an integer of more than 4,300 digits trips Python's guard against slow int
conversion (ValueError), and `1e400` quietly becomes infinity (then an OverflowError wherever it
meets `int()`); a key that appears twice keeps its last value without a word.  Every file
potatogpt reads as JSON (manifest.json, config.json, the vocabulary, a safetensors header) goes
through `parse_json`, so each caller handles one exception type.
"""

from __future__ import annotations

import json
import math

# No file we read needs numbers longer than this: sizes and ids have at most ~20 digits.
MAX_NUMBER_DIGITS = 100


class JSONProblem(ValueError):
    """Why a document is not usable JSON, as a phrase to put after the file's name."""


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise JSONProblem(f"a number has {len(text)} digits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONProblem(f"the number {text[:20]}{'...' if len(text) > 20 else ''} is too large")
    return value


def _refuse_constant(name: str) -> object:
    raise JSONProblem(f"{name} is not a JSON number")


def _refuse_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """An object's members as a dict, refusing a key that appears twice: json.loads would keep
    the last one silently, and the formats we read (safetensors says so) allow only one."""
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                shown = repr(key) if len(key) <= 60 else repr(key[:60]) + "..."  # (a repr is one line)
                raise JSONProblem(f"not usable JSON (the key {shown} appears twice in one object)")
            seen.add(key)
    return members


def parse_json(data: bytes | str) -> object:
    """The document in `data` (UTF-8 if bytes), or JSONProblem saying what is wrong with it."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value: object = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                                   parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicates)
        return value
    except UnicodeDecodeError:
        raise JSONProblem("not UTF-8 text, so not valid JSON") from None
    except json.JSONDecodeError as e:
        raise JSONProblem(f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except JSONProblem:
        raise
    except RecursionError:
        raise JSONProblem("nested too deeply to be real JSON data") from None
    except ValueError as e:  # anything else the standard parser rejects on the way
        raise JSONProblem(f"not usable JSON ({e})") from None
