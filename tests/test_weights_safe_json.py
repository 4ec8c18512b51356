"""The one JSON reader, for files nobody vouches for (weights/safe_json.py): what would crash or
fool json.loads is refused in one line naming the problem.  (Each reader's own refusal of the same
values is tested beside that reader.)"""

from __future__ import annotations

import pytest

from helpers import HOSTILE_JSON, one_line_error
from potatogpt.weights.safe_json import JSONProblem, parse_json


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_parse_json_names_the_problem(case: str) -> None:
    value, fragment = HOSTILE_JSON[case]
    with pytest.raises(JSONProblem) as excinfo:
        parse_json(f'{{"a": {value}}}')
    one_line_error(excinfo, fragment)


def test_parse_json_still_reads_ordinary_json() -> None:
    assert parse_json(b'{"a": [1, 2.5, -3e-5, "x", true, null]}') == {"a": [1, 2.5, -3e-5, "x", True, None]}
