"""The exercises cannot rot: the grader passes potatogpt's own functions, says "not started" for
the untouched stubs, catches each deliberately wrong solution with its hint, and every lesson's
quoted mypy message is what mypy really prints.  (Solutions: tests/exercise_solutions/.)"""

from __future__ import annotations

import argparse
import ast
import importlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from mypy import api

from helpers import ROOT
from exercises import backprop
from exercises.__main__ import main as exercises_main
from exercises.checks import EXERCISES
from exercises.finale import run_finale
from exercises.grader import EXERCISES_DIR, Exercise, Failed, Lab, Solution, check_close, grade, grade_file, load_solution
from potatogpt import backward, model, train
from potatogpt.tensor import ONE, Embed, from_rows
from exercise_solutions.students import STUDENTS as FORWARD_STUDENTS, Student  # (tests/ is on sys.path, as for helpers)
from exercise_solutions.wrong import WRONG

SOLUTIONS = ROOT / "tests" / "exercise_solutions"
REFERENCE = SOLUTIONS / "reference"  # potatogpt's own functions
SOLVED = SOLUTIONS / "solved"  # the answer key, written by hand as the lessons ask
SHAPE_MISTAKES = SOLUTIONS / "shape_mistakes"
BY_NUMBER = {exercise.number: exercise for exercise in EXERCISES}
# Part two's wrong solutions: one file per exercise, students_ex12.py ...
BACKWARD_STUDENTS: list[Student] = [
    student for path in sorted(SOLUTIONS.glob("students_ex*.py"))
    for student in importlib.import_module(f"exercise_solutions.{path.stem}").STUDENTS]
STUDENTS = FORWARD_STUDENTS + BACKWARD_STUDENTS


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return Lab(tmp_path_factory.mktemp("lab"))


def test_exercises_are_numbered_in_reading_order_with_a_file_each() -> None:
    assert [e.number for e in EXERCISES] == list(range(1, len(EXERCISES) + 1))
    assert sorted(p.stem for p in EXERCISES_DIR.glob("ex*.py")) == [e.stem for e in EXERCISES]


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.stem)
def test_each_lesson_points_at_potatogpt_and_its_two_graders(exercise: Exercise) -> None:
    lesson = load_solution(exercise.file).module.__doc__ or ""
    target = importlib.import_module(exercise.target)
    assert target.__file__ is not None
    assert str(Path(target.__file__).relative_to(ROOT)) in lesson
    for name in exercise.functions:
        assert callable(getattr(target, name)), name  # the finale can swap it in
        assert f"`{name}`" in lesson, name
    assert f"mypy exercises/{exercise.stem}.py" in lesson
    assert f"python -m exercises check {exercise.number}`" in lesson


@pytest.mark.parametrize("folder", [REFERENCE, SOLVED], ids=lambda f: f.name)
@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.stem)
def test_potatogpts_own_functions_and_the_answer_key_pass(exercise: Exercise, folder: Path, lab: Lab) -> None:
    report = grade_file(exercise, folder / f"{exercise.stem}.py", lab)
    assert report.status == "passed", str(report)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.stem)
def test_untouched_stubs_are_not_started(exercise: Exercise, lab: Lab) -> None:
    report = grade_file(exercise, exercise.file, lab)
    assert report.status == "not started", str(report)
    assert report.lines == [f"{exercise.functions[0]}() still raises NotImplementedError"]


def test_a_half_done_exercise_is_unfinished(lab: Lab) -> None:
    def ffn_stub(*args: object) -> object:
        raise NotImplementedError("exercise 5: write ffn")

    report = grade(BY_NUMBER[5], with_replaced(BY_NUMBER[5], "ffn", ffn_stub), lab)
    assert (report.status, report.lines) == ("unfinished", ["ffn() still raises NotImplementedError"])


def test_the_command_reports_not_started_without_tracebacks() -> None:
    run = subprocess.run([sys.executable, "-m", "exercises", "check"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    assert run.stdout.count(": not started\n") == len(EXERCISES)
    assert run.stderr.strip() == f"{len(EXERCISES)} not started"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.stem)
def test_the_answer_key_needs_no_import_the_stub_lacks(exercise: Exercise) -> None:
    assert imported_names(SOLVED / f"{exercise.stem}.py") <= imported_names(exercise.file)


def imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names}


def with_replaced(exercise: Exercise, name: str, function: Callable[..., object], file: Path | None = None) -> Solution:
    """potatogpt's own solution of the exercise with one function replaced (`file`: where it was written)."""
    reference = load_solution(REFERENCE / f"{exercise.stem}.py").module
    namespace = SimpleNamespace(**{n: getattr(reference, n) for n in exercise.functions})
    setattr(namespace, name, function)
    return Solution(namespace, file)


@pytest.mark.parametrize(("number", "name", "function", "hint"), WRONG, ids=lambda v: getattr(v, "__qualname__", None))
def test_a_wrong_solution_is_caught_with_its_hint(number: int, name: str, function: Callable[..., object],
                                                   hint: str, lab: Lab) -> None:
    report = grade(BY_NUMBER[number], with_replaced(BY_NUMBER[number], name, function), lab)
    assert report.status == "failed", str(report)
    hints = [line for line in report.lines if line.startswith("  hint: ")]
    assert len(hints) == 1 and hint in hints[0], str(report)


def naming_lines(report_lines: list[str]) -> list[str]:
    """The lines of a report that name a cause: hints, and a crash's explanation in the lesson's words."""
    return [line for line in report_lines if line.lstrip().startswith("hint: ") or not line.startswith(" ")]


@pytest.mark.parametrize("student", STUDENTS, ids=lambda s: s.function.__name__)
def test_a_students_wrong_solution_is_caught_and_its_cause_named(student: Student, lab: Lab) -> None:
    exercise = BY_NUMBER[student.number]
    file = Path(student.function.__code__.co_filename)
    report = grade(exercise, with_replaced(exercise, student.name, student.function, file), lab)
    assert report.status == student.status, str(report)
    assert "Traceback" not in str(report)
    hints = [line for line in report.lines if line.lstrip().startswith("hint: ")]
    several = any("known mistakes give exactly these numbers" in line for line in report.lines)
    assert len(hints) <= 1 or several, str(report)  # one diagnosis, unless the inputs cannot tell two apart
    if student.says is not None:
        assert any(student.says in line for line in naming_lines(report.lines)), str(report)
    if student.status == "crashed":
        assert f"at {file.relative_to(Path.cwd()) if file.is_relative_to(Path.cwd()) else file}, line " in str(report)
        assert "(while grading " in report.lines[-1]


@pytest.mark.parametrize("exercise", [e for e in EXERCISES if e.part == 2], ids=lambda e: e.stem)
def test_each_backward_exercise_catches_three_students_or_more_by_name(exercise: Exercise) -> None:
    named = [s for s in BACKWARD_STUDENTS if s.number == exercise.number and s.says is not None]
    assert len(named) >= 3, exercise.stem


def test_the_students_set_is_big_and_mostly_named() -> None:
    assert len(STUDENTS) >= 40
    assert len({s.function for s in STUDENTS}) == len(STUDENTS)
    assert not {s.function.__name__ for s in STUDENTS} & {w[2].__name__ for w in WRONG}  # new ones, beside wrong.py
    named = sum(s.says is not None for s in STUDENTS)
    assert named * 5 >= len(STUDENTS) * 4
    assert {s.number for s in STUDENTS} == set(BY_NUMBER)  # every exercise has some


def test_writing_into_the_input_is_its_own_verdict_even_with_the_right_values(tmp_path: Path, lab: Lab) -> None:
    solution = tmp_path / "ex04_layer_norm.py"
    solution.write_text(
        "import math\nfrom potatogpt.tensor import from_rows\n\n\n"
        "def layer_norm(x, ln, eps):\n"
        "    gain, bias = ln.weight.row(0), ln.bias.row(0)\n"
        "    for row in x.rows:\n"
        "        mean = sum(row) / len(row)\n"
        "        var = sum((v - mean) ** 2 for v in row) / len(row)\n"
        "        for j in range(len(row)):\n"
        "            row[j] = (row[j] - mean) / math.sqrt(var + eps) * gain[j] + bias[j]\n"
        "    return from_rows(x.rows, x.n_rows, x.n_cols)\n", encoding="utf-8")
    report = grade_file(BY_NUMBER[4], solution, lab)
    assert report.status == "changed its input", str(report)
    assert report.lines[0].startswith("your layer_norm wrote into its input x (x.rows[0] changed) while grading layer_norm(")
    assert "build new lists" in report.lines[1] and "x is read-only" in report.lines[1]
    assert "expected" not in str(report)  # nothing compared with numbers computed from the overwritten input


def test_a_near_miss_says_how_far_above_the_tolerance_it_is(lab: Lab) -> None:
    def layer_norm_eps_typo(x: object, ln: object, eps: float) -> object:
        return model.layer_norm(x, ln, 1e-4)  # type: ignore[arg-type]  # (a student's eps typed from memory)

    report = grade(BY_NUMBER[4], with_replaced(BY_NUMBER[4], "layer_norm", layer_norm_eps_typo), lab)
    assert report.status == "failed"
    (line,) = [line for line in report.lines if "near miss" in line]
    assert re.search(r"a near miss: off by [0-9.e-]+, \d+ times the tolerance \([0-9.e-]+\); .* not rounding: "
                     r"a constant or a formula is slightly off", line), line


def test_two_mistakes_that_give_the_same_numbers_are_both_named() -> None:
    right = from_rows([[1.0, 2.0]], ONE, Embed(2))
    wrong = from_rows([[1.0, 3.0]], ONE, Embed(2))
    with pytest.raises(Failed) as failure:
        check_close("f(x)", wrong, right, lambda: {"mistake one": wrong, "mistake two": wrong, "not this": right})
    assert failure.value.lines[-3:] == ["  2 known mistakes give exactly these numbers (these inputs cannot tell them apart):",
                                        "  hint: mistake one", "  hint: mistake two"]


HOSTILE = {  # a file's text -> (status, words the verdict must contain)
    "def gelu(x):\n    while True:\n        pass\n":
        ("timed out", "still running after 2 s, in gelu(x=Tensor(7, 128)), so it was stopped"),
    "import sys\n\n\ndef gelu(x):\n    sys.exit(0)\n": ("crashed", "called sys.exit(0)"),
    "import os\n\n\ndef gelu(x):\n    os._exit(3)\n": ("crashed", "ended with exit status 3 (os._exit?) while gelu("),
    "def gelu(x):\n    for _ in range(20000):\n        print('x' * 500)\n    return x.map(abs)\n":
        ("failed", "your code printed 10,020,000 characters, the first 2,000 shown"),
    "def gelu(x):\n    return gelu(x)\n": ("crashed", "a function that calls itself without end"),
    "def gelu(x)\n    return x\n": ("crashed", "SyntaxError: expected ':'"),
    "import numpy as np\n\n\ndef gelu(x):\n    return x\n": ("crashed", "`import numpy` is refused"),
    "import sys\nsys.exit(2)\n": ("crashed", "your file called sys.exit(2) while being imported"),
}


@pytest.mark.parametrize("text", HOSTILE, ids=["loop", "sys.exit", "os._exit", "prints", "recursion", "syntax", "numpy",
                                               "exit-on-import"])
def test_hostile_code_gets_a_verdict_naming_the_exercise_in_time(text: str, tmp_path: Path, lab: Lab) -> None:
    solution = tmp_path / "ex03_gelu.py"
    solution.write_text(text, encoding="utf-8")
    status, words = HOSTILE[text]
    report = grade_file(BY_NUMBER[3], solution, lab, time_limit=2)
    assert report.status == status, str(report)
    assert str(report).startswith(f"ex03 GELU: {status}\n")
    assert words in str(report), str(report)
    assert "Traceback" not in str(report) and len(str(report)) < 4000


def test_a_wrong_value_is_reported_with_where_and_why(lab: Lab) -> None:
    wrong = next(function for _n, _name, function, hint in WRONG if hint.startswith("no 1/sqrt"))
    report = str(grade(BY_NUMBER[6], with_replaced(BY_NUMBER[6], "attention_weights", wrong), lab))
    assert re.search(r"attention_weights\(q, k_t\), 3 new tokens after 4 cached: wrong values\n"
                     r" +largest difference [0-9.e-]+ at row \d, column \d: yours [0-9.e-]+, expected [0-9.e-]+\n"
                     r" +first wrong value at row 0, column \d: yours [0-9.e-]+, expected [0-9.e-]+\n"
                     r" +hint: no 1/sqrt\(head_dim\) scale", report), report


def test_a_crash_is_one_line_with_the_place_in_your_file(tmp_path: Path, lab: Lab) -> None:
    broken = tmp_path / "ex03_gelu.py"
    broken.write_text("def gelu(x):\n    return x.map(lambda v: v / 0.0)\n", encoding="utf-8")
    report = grade_file(BY_NUMBER[3], broken, lab)
    assert report.status == "crashed"
    assert report.lines == ["ZeroDivisionError: float division by zero",
                            f"at {broken}, line 2: return x.map(lambda v: v / 0.0)",  # (tmp_path: outside the current folder)
                            "(while grading gelu(x=Tensor(7, 128)))"]


def test_the_teachers_page_shows_a_real_report_and_the_lessons_times(lab: Lab) -> None:
    page = (EXERCISES_DIR / "README.md").read_text(encoding="utf-8")
    wrong = next(function for _n, _name, function, hint in WRONG if hint.startswith("no 1/sqrt"))
    report = grade(BY_NUMBER[6], with_replaced(BY_NUMBER[6], "attention_weights", wrong), lab)
    assert f"$ python -m exercises check 6\n{report}\n" in page
    student = next(s for s in BACKWARD_STUDENTS if s.function.__name__ == "linear_backward_bias_mean")
    backward_report = grade(BY_NUMBER[14], with_replaced(BY_NUMBER[14], student.name, student.function), lab)
    assert "\n".join(line[2:] for line in str(backward_report).splitlines()[1:]) in page  # (the quote, unindented)
    for exercise in EXERCISES:
        lesson = load_solution(exercise.file).module.__doc__ or ""
        minutes = re.search(r"\(about (\d+) minutes\)", lesson)
        assert minutes, exercise.stem
        assert f"| {exercise.number} | `{exercise.stem}.py` |" in page
        assert f"| {minutes[1]} min |" in page.split(f"`{exercise.stem}.py`")[1].splitlines()[0], exercise.stem


def test_rows_where_a_tensor_belongs_are_named(lab: Lab) -> None:
    rows_only = with_replaced(BY_NUMBER[3], "gelu", lambda x: model.gelu(x).rows)
    report = grade(BY_NUMBER[3], rows_only, lab)
    assert report.status == "failed"
    assert report.lines == ["gelu(block 0's MLP activations) returned a list, not a Tensor",
                            "  hint: from_rows(rows, n_rows, n_cols) makes a Tensor of lists"]


# --- Stage 1: the mypy messages the lessons quote --------------------------------------------------
MARK = re.compile(r"^(?P<code>.*?)\s*#\s*mypy:\s*(?P<error>[a-z-]+)\s*$")
REPORTED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<message>.*)$")


def test_each_lessons_mypy_mistake_is_real() -> None:
    stdout, stderr, _status = api.run(["--config-file=", "--strict", "--cache-dir=/dev/null", "--show-error-codes",
                                       "--no-error-summary", "--hide-error-context", "--no-pretty", str(SHAPE_MISTAKES)])
    reported: dict[str, list[tuple[int, str]]] = {}
    for line in stdout.splitlines():
        found = REPORTED.match(line)
        assert found, stdout + stderr
        reported.setdefault(Path(found["file"]).stem, []).append((int(found["line"]), found["message"]))
    assert sorted(reported) == [e.stem for e in EXERCISES], stdout + stderr
    for exercise in EXERCISES:
        lines = (SHAPE_MISTAKES / f"{exercise.stem}.py").read_text(encoding="utf-8").splitlines()
        marked = [(number, MARK.match(text)) for number, text in enumerate(lines, start=1) if MARK.match(text)]
        assert len(marked) == 1, exercise.stem
        (line_number, mark), = marked
        assert mark is not None
        (got_line, message), = reported[exercise.stem]
        assert got_line == line_number and message.endswith(f"[{mark['error']}]"), (exercise.stem, message)
        lesson = load_solution(exercise.file).module.__doc__ or ""
        assert mark["code"].strip() in lesson, exercise.stem  # the slip, as the lesson shows it
        assert f"exercises/{exercise.stem}.py:<line>: error: {message}" in lesson, exercise.stem


SLIPS = {  # the second slips the lessons explain: (exercise, the right line, the slip)
    14: ("dw = weight_from_tensor(x.T @ dy)", "dw = weight_from_tensor(dy.T @ x)"),
    7: ("return model.linear(concat_columns(heads, x.n_cols), attn.c_proj)",
        "return model.linear(concat_columns(heads, head_dim), attn.c_proj)"),
    9: ("return model.layer_norm(x, params.ln_f, config.layer_norm_epsilon) @ params.wte.T",
        "return model.layer_norm(x @ params.wte.T, params.ln_f, config.layer_norm_epsilon)"),
}


@pytest.mark.parametrize("number", SLIPS)
def test_the_confusing_mypy_messages_the_lessons_explain_are_real(number: int, tmp_path: Path) -> None:
    exercise = BY_NUMBER[number]
    right, slip = SLIPS[number]
    solved = (SOLVED / f"{exercise.stem}.py").read_text(encoding="utf-8")
    assert right in solved
    (tmp_path / f"{exercise.stem}.py").write_text(solved.replace(right, slip), encoding="utf-8")
    stdout, _stderr, _status = api.run(["--config-file=", "--strict", "--cache-dir=/dev/null", "--show-error-codes",
                                        "--no-error-summary", "--hide-error-context", "--no-pretty",
                                        str(tmp_path / f"{exercise.stem}.py")])
    lesson = load_solution(exercise.file).module.__doc__ or ""
    assert slip in lesson and stdout.strip()
    for line in stdout.splitlines():  # (ex09's slip gives two errors on the same line; the lesson shows both)
        found = REPORTED.match(line)
        assert found, stdout
        assert f"exercises/{exercise.stem}.py:<line>: error: {found['message']}" in lesson, line


# --- The finale --------------------------------------------------------------------------------------
def test_the_finale_generates_with_your_functions_then_puts_potatogpts_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for exercise in EXERCISES:
        (tmp_path / f"{exercise.stem}.py").write_text((REFERENCE / f"{exercise.stem}.py").read_text(encoding="utf-8"))
    # A function of the student's own (a new object, unlike the re-exported ones), to see it plugged in and taken out.
    (tmp_path / "ex03_gelu.py").write_text("from potatogpt import model\nfrom potatogpt.model import gelu as ours\n\n"
                                           "calls = []\n\n\ndef gelu(x):\n    calls.append(1)\n    return ours(x)\n")
    original = model.gelu
    args = argparse.Namespace(prompt="Hello, my name is", weights=None, max_new_tokens=5, temperature=0.0, top_k=None,
                              top_p=None, seed=None, solutions=tmp_path)
    assert run_finale(args) == 0
    assert model.gelu is original
    out, err = capsys.readouterr()
    assert "yours: ex01, ex02, ex03, ex04, ex05, ex06, ex07, ex08, ex09, ex10, ex11; potatogpt's: nothing" in err
    # transformers' greedy continuation of this prompt (checkpoints/tiny-vocab/reference.json)
    assert out == "Hello, my name is Runesusageusageusageusage\n"


# --- The second finale: training with your backward pass ------------------------------------------------
def part_two_solutions(folder: Path, into: Path) -> None:
    for exercise in (e for e in EXERCISES if e.part == 2):
        (into / f"{exercise.stem}.py").write_text((folder / f"{exercise.stem}.py").read_text(encoding="utf-8"),
                                                  encoding="utf-8")


LOSS_LINE = re.compile(r"^\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)$")


def test_training_with_the_answer_keys_backward_follows_potatogpts_own(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    part_two_solutions(SOLVED, tmp_path)
    originals = {name: getattr(backward, name) for name in ("linear_backward", "transformer_block_backward")}
    assert exercises_main(["train", "--steps", "3", "--print-every", "1", "--solutions", str(tmp_path)]) == 0
    assert {name: getattr(backward, name) for name in originals} == originals  # potatogpt's again
    assert train.adamw_update is backprop.Potatogpt.adamw_update
    out, err = capsys.readouterr()
    assert "yours: ex12, ex13, ex14, ex15, ex16, ex17, ex18, ex19, ex20; potatogpt's: nothing" in err
    rows = [LOSS_LINE.match(line) for line in out.splitlines() if LOSS_LINE.match(line)]
    assert [int(row[1]) for row in rows if row] == [1, 2, 3]
    for row in rows:
        assert row is not None
        yours, ours = float(row[2]), float(row[3])
        assert abs(yours - ours) < 1e-9 and 4.0 < ours < 6.0  # (a byte-level model starts near ln 257 = 5.55)
    assert "a sample of your model: " in out


def test_training_plugs_in_only_what_passes_and_reports_a_crash_in_your_terms(tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture[str]) -> None:
    part_two_solutions(REFERENCE, tmp_path)
    # A gelu_backward that passes its check (7 tokens) but fails on the training rows (32 tokens).
    (tmp_path / "ex15_mlp_backward.py").write_text(
        "from potatogpt.backward import gelu_backward as ours\nfrom exercises.backprop import ffn_backward as ffn_backward\n\n"
        "def gelu_backward(dy, x):\n    if x.n_rows == 32:\n        raise ValueError('only short rows')\n"
        "    return ours(dy, x)\n", encoding="utf-8")
    (tmp_path / "ex16_layer_norm_backward.py").write_text("def layer_norm_backward(dy, x, ln, eps, grad):\n"
                                                          "    raise NotImplementedError\n", encoding="utf-8")
    assert exercises_main(["train", "--steps", "2", "--solutions", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "potatogpt's: ex16 (not started)" in err
    assert "Traceback" not in out + err
    assert "ValueError: only short rows" in err
    assert f"at {tmp_path / 'ex15_mlp_backward.py'}, line 6: raise ValueError('only short rows')" in err
    assert backward.gelu_backward is backprop.Potatogpt.gelu_backward


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--seconds", "nan"], ["--print-every", "x"]])
def test_trainings_bad_options_are_one_line(argv: list[str]) -> None:
    run = subprocess.run([sys.executable, "-m", "exercises", "train", *argv], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.splitlines()[-1].startswith("python -m exercises train: error: argument ")


@pytest.mark.parametrize("command", ["check", "finale", "train"])
def test_a_solutions_folder_that_is_not_there_is_one_line(command: str, tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "exercises", command, "--solutions", str(tmp_path / "missing")],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and not run.stdout
    assert run.stderr == (f"python -m exercises {command}: --solutions {tmp_path / 'missing'}: no such folder; "
                          "give the folder that holds your exNN_*.py files\n")


@pytest.mark.parametrize("command", [["check"], ["train", "--solutions", str(SOLVED)]])
def test_ctrl_c_stops_in_one_line(command: list[str]) -> None:
    # (the child turns SIGINT back into KeyboardInterrupt: a test runner's background job may ignore it)
    code = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            f"sys.argv = ['exercises', *{command!r}]; runpy.run_module('exercises', run_name='__main__')")
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    time.sleep(3)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130 and "Traceback" not in out + err
    assert err.splitlines()[-1] == "stopped (Ctrl-C)"
