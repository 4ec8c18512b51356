"""What more than one test file needs: the paths, the committed checkpoints and their references,
ways of running potatogpt, independent readers and writers of the file formats, and the stand-in
hub.  Test files import from here (and get fixtures from conftest.py), never from each other.

Nothing here may compute an expected value with the code under test: the readers and writers
below are written without potatogpt, so that a test comparing against them can fail.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast, TypeVar

import pytest

from exact_reference import exact_dot as exact_dot  # re-exported; bench/bench_kernels.py imports it from tests/ too
from potatogpt.api import GPT2, Storage, load
from potatogpt.cli import main as cli
from potatogpt.config import GPT2Config
from potatogpt.convert.export import convert, export_model
from potatogpt.model import MLP, Attention, Block, LayerNorm, Linear, Params
from potatogpt.tensor import ONE, Ctx, Embed, Hidden, Qkv, Tensor, Vocab, embedding_from_rows, from_rows, weight_from_rows
from potatogpt.weights.catalogue import WeightsError
from potatogpt.weights.checkpoint import open_checkpoint

# --- Paths -------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
R = TypeVar("R", bound=int)
C = TypeVar("C", bound=int)
CHECKPOINTS = ROOT / "checkpoints"  # the tiny random-weight checkpoints (see checkpoints/README.md)
CHECKPOINT_NAMES = sorted(p.name for p in CHECKPOINTS.iterdir() if (p / "reference.json").is_file())
BUNDLED = ROOT / "potatogpt" / "data"  # GPT-2's vocabulary files, as shipped with the package
EXAMPLE = ROOT / "examples" / "shape_errors.py"  # the mypy lesson: every mistake marked on its line

POSIX = pytest.mark.skipif(os.name != "posix", reason="needs POSIX shells, signals, umask or mkfifo")


# --- The committed checkpoints and what transformers said about them ----------------------------
class Exported:
    """Checkpoint folders converted to potatogpt's format, each converted only once."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, name: str) -> Path:
        out = self.root / name
        if not out.exists():
            convert(CHECKPOINTS / name, out)
        return out


def reference(name: str) -> dict[str, object]:
    """A checkpoint's reference.json: transformers' logits and greedy continuations."""
    data = json.loads((CHECKPOINTS / name / "reference.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def reference_cases(name: str, key: str) -> list[dict[str, object]]:
    return cast(list[dict[str, object]], reference(name)[key])


def ints(value: object) -> list[int]:
    return [int(v) for v in cast(list[int], value)]


def load_exported(exported: Exported, name: str, storage: Storage = "exact") -> GPT2:
    return load(exported.folder(name), storage=storage)


def greedy_case() -> dict[str, object]:
    """The real-vocabulary checkpoint's first greedy continuation: prompt text and ids, new text and ids."""
    return reference_cases("tiny-vocab", "greedy")[0]


def reference_config(name: str) -> GPT2Config:
    config = reference(name)["config"]
    assert isinstance(config, dict)
    return GPT2Config(**config)


def copy_fixture(name: str, folder: Path) -> Path:
    return Path(shutil.copytree(CHECKPOINTS / name, folder))


GRADIENTS = ROOT / "tests" / "fixtures" / "gradients"  # what PyTorch computes for training (make_gradient_references.py)
GRADIENT_CASES = ("tiny", "tiny-eps")  # the checkpoints GRADIENTS has references for


def gradient_reference(name: str) -> dict[str, object]:
    data = json.loads((GRADIENTS / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def batch_of(ref: dict[str, object]) -> list[list[int]]:
    """The reference's batch: B rows of T + 1 ids."""
    batch = ref["batch"]
    assert isinstance(batch, list) and all(isinstance(row, list) for row in batch)
    return [[int(token) for token in row] for row in batch]


def random_rows(rng: random.Random, n_rows: R, n_cols: C) -> Tensor[R, C]:
    """A tensor of standard normal numbers: an input or a gradient for the backward tests."""
    return from_rows([[rng.gauss(0.0, 1.0) for _ in range(n_cols)] for _ in range(n_rows)], n_rows, n_cols)


TINY_CONFIG = GPT2Config(n_layer=2, n_head=2, n_embd=16, n_ctx=32, vocab_size=64)  # checkpoints/tiny
HELLO_WORLD = [15496, 995]  # GPT-2's ids for "Hello world", as OpenAI's examples show them


def load_tokenizer_cases() -> tuple[list[tuple[str, list[int]]], list[tuple[str, list[int]]], list[tuple[str, list[str]]]]:
    """(cases, special_cases, pre_tokenize) of tests/fixtures/tokenizer_cases.json, which tiktoken and
    Hugging Face `tokenizers` produced: see the fixture's "about" line."""
    raw = json.loads((ROOT / "tests" / "fixtures" / "tokenizer_cases.json").read_text(encoding="ascii"))
    cases = [(str(text), [int(i) for i in ids]) for text, ids in raw["cases"]]
    special_cases = [(str(text), [int(i) for i in ids]) for text, ids in raw["special_cases"]]
    splits = [(str(text), [str(w) for w in words]) for text, words in raw["pre_tokenize"]]
    return cases, special_cases, splits


# --- A model on random in-memory weights --------------------------------------------------------
RANDOM_CONFIG = GPT2Config(n_layer=2, n_head=2, n_embd=8, n_ctx=16, vocab_size=50257)


def random_params(config: GPT2Config, seed: int = 0) -> Params:
    rng = random.Random(seed)

    def matrix(n_rows: int, n_cols: int, scale: float) -> list[list[float]]:
        return [[rng.gauss(0.0, scale) for _ in range(n_cols)] for _ in range(n_rows)]

    embed, hidden, qkv = Embed(config.n_embd), Hidden(4 * config.n_embd), Qkv(3 * config.n_embd)

    def layer_norm() -> LayerNorm:
        return LayerNorm(
            from_rows([[1.0 + g for g in matrix(1, embed, 0.1)[0]]], ONE, embed),
            from_rows(matrix(1, embed, 0.1), ONE, embed),
        )

    def block() -> Block:
        return Block(
            ln_1=layer_norm(),
            attn=Attention(
                c_attn=Linear(weight_from_rows(matrix(embed, qkv, 0.3), embed, qkv), from_rows(matrix(1, qkv, 0.1), ONE, qkv)),
                c_proj=Linear(weight_from_rows(matrix(embed, embed, 0.3), embed, embed), from_rows(matrix(1, embed, 0.1), ONE, embed)),
            ),
            ln_2=layer_norm(),
            mlp=MLP(
                c_fc=Linear(weight_from_rows(matrix(embed, hidden, 0.3), embed, hidden), from_rows(matrix(1, hidden, 0.1), ONE, hidden)),
                c_proj=Linear(weight_from_rows(matrix(hidden, embed, 0.3), hidden, embed), from_rows(matrix(1, embed, 0.1), ONE, embed)),
            ),
        )

    return Params(
        wte=embedding_from_rows(matrix(config.vocab_size, embed, 0.5), Vocab(config.vocab_size), embed),
        wpe=embedding_from_rows(matrix(config.n_ctx, embed, 0.5), Ctx(config.n_ctx), embed),
        h=[block() for _ in range(config.n_layer)],
        ln_f=layer_norm(),
    )


# --- Errors ------------------------------------------------------------------------------------
def one_line_error(excinfo: pytest.ExceptionInfo[BaseException], *fragments: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def one_error_line(stderr: str, *fragments: str) -> str:
    """The command's whole stderr is one `potatogpt: error: ` line holding every fragment."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("potatogpt: error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, stderr)
    return lines[0]


# --- Things that are not files, where a file belongs ---------------------------------------------
NOT_FILES = ["a named pipe", "a folder", "a device", "a link to a named pipe"]


def put_not_a_file(path: Path, kind: str = "a named pipe") -> None:
    """Replace the file at `path` (if any) by `kind`: a FIFO that nobody will ever write to (a plain
    open() of it waits forever), a folder, /dev/zero (never ends), or a symlink to a FIFO."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    if kind == "a named pipe":
        os.mkfifo(path)
    elif kind == "a folder":
        path.mkdir()
    elif kind == "a device":
        path.symlink_to(os.devnull if not Path("/dev/zero").exists() else "/dev/zero")
    else:
        fifo = path.with_name(path.name + ".fifo")
        os.mkfifo(fifo)
        path.symlink_to(fifo.name)


@contextmanager
def never_waits(seconds: int = 20) -> Iterator[None]:
    """A hang guard for code that must refuse, not wait on, a pipe: SIGALRM interrupts the open()
    that blocks, and the test fails saying so (instead of the suite hanging).  A hang guard only:
    anything that works takes milliseconds."""
    def hung(signum: int, frame: object) -> None:
        raise AssertionError(f"still waiting after {seconds} s: something opened a pipe and blocked on it")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# Each one, pasted where a value belongs, used to escape json.loads as something other than
# a JSONDecodeError (or to come back as infinity, or as the last of two values).  Every reader of
# JSON must refuse them.
HOSTILE_JSON = {
    "a duplicate key": ('{"k": 1, "k": 2}', "the key 'k' appears twice"),
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "a 5000-digit integer": ("1" * 5000, "5000 digits"),
    "1e400": ("1e400", "too large"),
    "-1e400": ("-1e400", "too large"),
    "NaN": ("NaN", "NaN is not a JSON number"),
    "Infinity": ("Infinity", "Infinity is not a JSON number"),
}
HUGE = 2**31 - 1  # a size no file could hold


# --- Running potatogpt -------------------------------------------------------------------------
def run_cli(*args: str, stdin: str | None = None, cwd: Path = ROOT,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m potatogpt ARGS` in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "potatogpt", *args],
        input=stdin, capture_output=True, text=True, cwd=cwd, env=env, timeout=120,
    )


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """cli.main(argv) in this process: (exit status, stdout, stderr)."""
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def shell(command: str, *args: str, stdin: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run `command` in sh with $0 = this Python, so that it can redirect file descriptors."""
    return subprocess.run(["sh", "-c", command, sys.executable, *args], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120, cwd=ROOT, stdin=stdin)


def in_a_subprocess(code: str, *args: str, timeout: float = 60) -> str:
    """Run `code` with a hang guard; its stdout."""
    result = subprocess.run([sys.executable, "-c", code, *args], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


# --- Weights folders ---------------------------------------------------------------------------
def edit_manifest(folder: Path, edit: Callable[[dict[str, object]], object]) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def checkpoint_refused(folder: Path, *fragments: str, verify_sha256: bool = False) -> str:
    """open_checkpoint refuses `folder` in one line holding every fragment."""
    with pytest.raises(WeightsError) as excinfo:
        open_checkpoint(folder, verify_sha256=verify_sha256)
    return one_line_error(excinfo, *fragments)


# --- safetensors, written and read without potatogpt --------------------------------------------
# name -> (dtype, shape, raw little-endian bytes)
RawTensors = dict[str, tuple[str, list[int], bytes]]


def write_safetensors(path: Path, tensors: RawTensors, *, metadata: dict[str, str] | None = None) -> Path:
    """A minimal safetensors writer: header with offsets, padded to 8 bytes, then the data."""
    header: dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    write_raw_header(path, json.dumps(header).encode(), b"".join(raw for _, _, raw in tensors.values()))
    return path


def write_raw_header(path: Path, header: bytes, data: bytes) -> None:
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)


def read_raw(path: Path) -> RawTensors:
    """The tensors of a safetensors file, parsed independently of potatogpt."""
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    return {name: (e["dtype"], e["shape"], blob[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]])
            for name, e in header.items()}


def f16_by_hand(bits: int) -> float:
    """IEEE half precision decoded from its fields, independently of struct's 'e' format."""
    sign = -1.0 if bits >> 15 else 1.0
    exponent, fraction = (bits >> 10) & 0x1F, bits & 0x3FF
    if exponent == 0:
        return sign * fraction * 2.0**-24  # subnormal (and zero)
    if exponent == 0x1F:
        return sign * math.inf if fraction == 0 else math.nan
    return sign * (1 + fraction / 1024) * 2.0 ** (exponent - 15)


def widen_independently(dtype: str, raw: bytes) -> list[float]:
    """float32 values of raw tensor bytes, computed without potatogpt."""
    if dtype == "F32":
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    halves = struct.unpack(f"<{len(raw) // 2}H", raw)
    if dtype == "F16":
        return [f16_by_hand(h) for h in halves]
    if dtype == "BF16":  # the top 16 bits of a float32
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]
    raise ValueError(dtype)


def same_floats(a: list[float], b: list[float]) -> bool:
    """Bit-for-bit equality as float32, NaNs included."""
    return len(a) == len(b) and all(struct.pack("<f", x) == struct.pack("<f", y) or (math.isnan(x) and math.isnan(y))
                                    for x, y in zip(a, b))


# --- Numbers shaped like GPT-2's, for the products ----------------------------------------------
def norm(a: Sequence[float]) -> float:
    return math.hypot(*a)


def gauss_f32(rng: random.Random, n: int, sigma: float) -> list[float]:
    """Float32-representable weights, like GPT-2's checkpoint, with rare 10x outliers."""
    return list(array("f", [rng.gauss(0.0, sigma) * (10.0 if rng.random() < 0.002 else 1.0) for _ in range(n)]))


def post_layernorm(rng: random.Random, n: int) -> list[float]:
    x = [rng.gauss(0.0, 1.0) for _ in range(n)]
    for k in rng.sample(range(n), min(n, 3)):
        x[k] = rng.choice((-1.0, 1.0)) * rng.uniform(8.0, 20.0)
    return x


def post_gelu(rng: random.Random, n: int) -> list[float]:
    pre = [rng.gauss(0.0, 1.5) for _ in range(n)]
    for k in rng.sample(range(n), min(n, 3)):
        pre[k] = rng.uniform(-10.0, 10.0)
    return [0.5 * v * (1.0 + math.tanh(0.7978845608028654 * (v + 0.044715 * v**3))) for v in pre]


def make_columns(rng: random.Random, n_in: int, n_out: int, sigma: float = 0.02) -> list[list[float]]:
    return [gauss_f32(rng, n_in, sigma) for _ in range(n_out)]


def flat_of(columns: list[list[float]], typecode: str = "f") -> array[float]:
    return array(typecode, [v for c in columns for v in c])


def assert_exact(out: list[list[float]], rows: Sequence[Sequence[float]], columns: Sequence[Sequence[float]]) -> None:
    """Within 1e-12 |w||x| (and so within 1e-6 relative of any float64 loop) of the exact value."""
    assert len(out) == len(rows)
    for x, y in zip(rows, out):
        assert len(y) == len(columns)
        for c, v in zip(columns, y):
            ref = exact_dot(c, x)
            assert abs(v - ref) <= 1e-12 * norm(c) * norm(x), (v, ref)
            assert abs(v - ref) <= 1e-6 * max(1.0, abs(ref))


# --- The mypy lesson's marks -------------------------------------------------------------------
MARK = re.compile(r"#\s*mypy:\s*([a-z-]+)\s*$")


def marked_errors(path: Path) -> set[tuple[int, str]]:
    """(line, mypy error code) of every `# mypy: code` mark in `path`."""
    marks = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        found = MARK.search(line)
        if found:
            marks.add((number, found.group(1)))
    return marks


# --- Pages, read without potatogpt ------------------------------------------------------------
class Parsed(HTMLParser):
    """Every start tag with its attributes, and all the text, as html.parser reads the page."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self.in_style = False
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        self.in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self.in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self.in_style else self.text).append(data)

    def having(self, attribute: str) -> list[dict[str, str]]:
        return [attrs for _tag, attrs in self.elements if attribute in attrs]


def assert_self_contained(document: str) -> Parsed:
    """The page parsed, having checked it needs nothing outside itself: no script, link or image
    element, no event handler, no reference but to its own anchors, no @import, url() or font."""
    parsed = Parsed(document)
    for tag, attrs in parsed.elements:
        assert tag not in ("script", "link", "img", "iframe", "object", "embed", "base"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), f"<{tag} {name}>: an event handler"
            if name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
                assert value.startswith("#"), f"<{tag} {name}={value!r}>: a reference outside the page"
            assert "http:" not in value.lower() and "https:" not in value.lower(), f"<{tag} {name}={value!r}>"
    css = " ".join(parsed.styles) + " ".join(attrs.get("style", "") for _tag, attrs in parsed.elements)
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    return parsed


# --- A stand-in for the Hugging Face hub, on 127.0.0.1 -------------------------------------------
# It behaves like the hub where it matters: small files are served directly with a git-style ETag
# (not a sha256), large files answer with a redirect carrying X-Linked-Size and X-Linked-Etag
# (the sha256), and the storage they redirect to honours HTTP Range requests.  It can also cut a
# transfer off halfway, ignore Range, or lie about a hash.  (The `hub` fixture in conftest.py
# starts one.)
REPO = "openai-community/gpt2"  # what --model 124M asks for
HUB_CHECKPOINT = CHECKPOINTS / "tiny-vocab"  # the model the stand-in hub serves as GPT-2 124M
ERROR_PAGE = b"<html><body>502 Bad Gateway (proxy)</body></html>"  # what a proxy serves instead of a file


@dataclass
class Hub:
    files: dict[str, bytes]  # file name in the repository -> content
    lfs: set[str]  # files served the hub's LFS way (redirect + X-Linked-* headers)
    cuts: dict[str, int] = field(default_factory=dict)  # file -> how many GETs to cut off halfway
    ignore_range: bool = False
    wrong_sha256: bool = False
    announced_size: dict[str, int] = field(default_factory=dict)  # X-Linked-Size overrides
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, path, Range)
    etags: dict[str, str] = field(default_factory=dict)  # ETag overrides for small files
    quirks: dict[str, str] = field(default_factory=dict)  # file -> one of QUIRKS, for every request of it
    url: str = ""


# How a server can misbehave beyond cutting a transfer off: each answer carries text from outside
# (a reason phrase, a raw status line) that an error message must not paste in as it is.
QUIRKS = {
    "redirect loop": "a 302 to itself, for ever",
    "malformed status line": "HTTP/1.1 2OO OK, raw CR/LF and all",
    "a reason of many lines": "HTTP 500, its reason phrase full of line breaks and 3000 characters long",
    "hangs up": "closes the connection without a word",
}


def git_sha1(content: bytes) -> str:
    """git's name for a file's content: the hub's ETag for a small (non-LFS) file."""
    return hashlib.sha1(b"blob %d\x00" % len(content) + content).hexdigest()


def make_handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output clean

        def do_HEAD(self) -> None:
            self.respond(body=False)

        def do_GET(self) -> None:
            self.respond(body=True)

        def respond(self, body: bool) -> None:
            hub.requests.append((self.command, self.path, self.headers.get("Range")))
            prefix = f"/{REPO}/resolve/main/"
            quirk = hub.quirks.get(self.path[len(prefix):]) if self.path.startswith(prefix) else None
            if quirk is not None:
                self.misbehave(quirk)
                return
            if self.path.startswith(prefix) and self.path[len(prefix):] in hub.files:
                name = self.path[len(prefix):]
                content = hub.files[name]
                if name in hub.lfs:
                    sha = hashlib.sha256(content).hexdigest()
                    self.send_response(302)
                    self.send_header("Location", f"/storage/{name}?signature=abc")
                    self.send_header("X-Linked-Size", str(hub.announced_size.get(name, len(content))))
                    self.send_header("X-Linked-Etag", f'"{"0" * 64 if hub.wrong_sha256 else sha}"')
                    self.send_header("ETag", f'"{sha}"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_content(name, content, body, etag=hub.etags.get(name, git_sha1(content)))
            elif self.path.startswith("/storage/"):
                name = self.path.removeprefix("/storage/").split("?")[0]
                self.send_content(name, hub.files[name], body, etag=None)
            else:
                self.send_error(404)

        def misbehave(self, quirk: str) -> None:
            self.close_connection = True
            if quirk == "redirect loop":
                self.send_response(302)
                self.send_header("Location", self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif quirk == "malformed status line":
                self.wfile.write(b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n")
            elif quirk == "a reason of many lines":
                # (Written by hand: http.server would send the line breaks, and the client would
                # take the lines after the first for headers.)
                reason = "Internal\x0bServer\x0cError " + "\x85and\u2028more " * 300
                self.wfile.write(b"HTTP/1.1 500 " + reason.encode("latin-1", "replace") + b"\r\nContent-Length: 0\r\n\r\n")
            # "hangs up": nothing at all

        def send_content(self, name: str, content: bytes, body: bool, etag: str | None) -> None:
            start = 0
            range_header = self.headers.get("Range")
            if range_header and not hub.ignore_range:
                start = int(range_header.removeprefix("bytes=").rstrip("-"))
                if start >= len(content):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(content) - start))
            if etag:
                self.send_header("ETag", f'"{etag}"')
            self.end_headers()
            if not body:
                return
            payload = content[start:]
            if body and hub.cuts.get(name, 0) > 0:
                hub.cuts[name] -= 1
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True  # the connection drops mid-file
                return
            self.wfile.write(payload)

    return Handler


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up mid-transfer is what several tests do on purpose: no report."""


def model_gets(hub: Hub) -> list[str | None]:
    """The Range header of every GET for the model's bytes."""
    return [r for method, path, r in hub.requests if method == "GET" and path.startswith("/storage/model")]


def assert_exported(out: Path, expected: dict[str, bytes]) -> None:
    checkpoint = open_checkpoint(out, verify_sha256=True)
    assert checkpoint.has_tokenizer()
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "manifest.json"} == expected


def export_from_hub(hub: Hub, out: Path) -> Path:
    """export_model("124M", out) from the stand-in hub, its progress lines kept quiet."""
    return export_model("124M", out, base_url=hub.url, stream=io.StringIO())
