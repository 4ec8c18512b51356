"""Downloading from a hub: against a local stand-in for it, on 127.0.0.1, serving a tiny model.

The stand-in behaves like the Hugging Face hub where it matters: small files are served
directly with a git-style ETag (not a sha256), large files answer with a redirect carrying
X-Linked-Size and X-Linked-Etag (the sha256), and the storage they redirect to honours HTTP
Range requests.  It can also cut a transfer off halfway, ignore Range, or lie about a hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_safetensors import one_line_error

from potatogpt.convert import download
from potatogpt.convert.download import DownloadError, Progress, RemoteFile, probe
from potatogpt.convert.export import ExportError, convert, export_model
from potatogpt.weights.checkpoint import open_checkpoint

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "checkpoints" / "tiny-vocab"
BUNDLED = ROOT / "potatogpt" / "data"
REPO = "openai-community/gpt2"  # what --model 124M asks for


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
    url: str = ""


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


@pytest.fixture
def hub() -> Iterator[Hub]:
    files = {
        "config.json": (FIXTURE / "config.json").read_bytes(),
        "model.safetensors": (FIXTURE / "model.safetensors").read_bytes(),
        "vocab.json": (BUNDLED / "encoder.json").read_bytes(),
        "merges.txt": (BUNDLED / "vocab.bpe").read_bytes(),
    }
    state = Hub(files=files, lfs={"model.safetensors", "vocab.json"})
    server = QuietServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "RETRY_DELAY", 0.0)
    monkeypatch.setattr(download, "TIMEOUT", 10.0)


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """What converting the served checkpoint directly gives, file by file (manifest aside)."""
    source = tmp_path_factory.mktemp("src") / "ckpt"
    source.mkdir()
    shutil.copy(FIXTURE / "config.json", source)
    shutil.copy(FIXTURE / "model.safetensors", source)
    shutil.copy(BUNDLED / "encoder.json", source / "vocab.json")
    shutil.copy(BUNDLED / "vocab.bpe", source / "merges.txt")
    out = convert(source, tmp_path_factory.mktemp("out") / "w")
    return {p.name: p.read_bytes() for p in out.iterdir() if p.name != "manifest.json"}


def model_gets(hub: Hub) -> list[str | None]:
    """The Range header of every GET for the model's bytes."""
    return [r for method, path, r in hub.requests if method == "GET" and path.startswith("/storage/model")]


def assert_exported(out: Path, expected: dict[str, bytes]) -> None:
    checkpoint = open_checkpoint(out, verify_sha256=True)
    assert checkpoint.has_tokenizer()
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "manifest.json"} == expected


# --- End to end -------------------------------------------------------------------------------
def test_download_and_convert_then_rerun_does_nothing(hub: Hub, tmp_path: Path, expected: dict[str, bytes]) -> None:
    out = tmp_path / "weights" / "124M"
    log = io.StringIO()
    assert export_model("124M", out, base_url=hub.url, stream=log) == out
    assert_exported(out, expected)
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == ["124M"]  # cache removed
    assert model_gets(hub) == [None]
    assert "model.safetensors: 100%" in log.getvalue()

    count = len(hub.requests)
    export_model("124M", out, base_url=hub.url, stream=log)
    assert len(hub.requests) == count  # not even a HEAD


def test_keep_download_keeps_the_cache(hub: Hub, tmp_path: Path) -> None:
    out = tmp_path / "weights" / "124M"
    export_model("124M", out, base_url=hub.url, keep_download=True, stream=io.StringIO())
    cache = tmp_path / "weights" / ".download" / "124M"
    assert sorted(p.name for p in cache.iterdir()) == ["config.json", "merges.txt", "model.safetensors", "vocab.json"]


def test_a_cut_transfer_resumes_in_the_same_run(hub: Hub, tmp_path: Path, expected: dict[str, bytes]) -> None:
    hub.cuts["model.safetensors"] = 2
    out = tmp_path / "weights" / "124M"
    log = io.StringIO()
    export_model("124M", out, base_url=hub.url, stream=log)
    assert_exported(out, expected)
    size = len(hub.files["model.safetensors"])
    half = size // 2
    assert model_gets(hub) == [None, f"bytes={half}-", f"bytes={half + (size - half) // 2}-"]
    assert "interrupted" in log.getvalue()


def test_a_cut_transfer_resumes_on_the_next_run(hub: Hub, tmp_path: Path, expected: dict[str, bytes],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "ATTEMPTS", 1)
    hub.cuts["model.safetensors"] = 1
    out = tmp_path / "weights" / "124M"
    with pytest.raises(ExportError) as excinfo:
        export_model("124M", out, base_url=hub.url, stream=io.StringIO())
    one_line_error(excinfo, "interrupted", "re-run the same command to resume")
    part = tmp_path / "weights" / ".download" / "124M" / "model.safetensors.part"
    half = len(hub.files["model.safetensors"]) // 2
    assert part.stat().st_size == half
    assert not out.exists()

    export_model("124M", out, base_url=hub.url, stream=io.StringIO())
    assert_exported(out, expected)
    assert model_gets(hub) == [None, f"bytes={half}-"]
    # The small files that had finished were not fetched again.
    assert [p for m, p, _ in hub.requests if m == "GET" and p.endswith("config.json")] == [
        f"/{REPO}/resolve/main/config.json"]


def test_a_server_that_ignores_range_gets_a_clean_restart(hub: Hub, tmp_path: Path, expected: dict[str, bytes]) -> None:
    hub.cuts["model.safetensors"] = 1
    hub.ignore_range = True
    out = tmp_path / "weights" / "124M"
    export_model("124M", out, base_url=hub.url, stream=io.StringIO())
    assert_exported(out, expected)
    half = len(hub.files["model.safetensors"]) // 2
    assert model_gets(hub) == [None, f"bytes={half}-"]  # asked to resume, got the whole file, used it


def test_a_complete_but_unrenamed_part_file_is_fetched_again(hub: Hub, tmp_path: Path) -> None:
    dest = tmp_path / "model.safetensors"
    (tmp_path / "model.safetensors.part").write_bytes(hub.files["model.safetensors"])
    url = download.file_url(hub.url, REPO, "model.safetensors")
    # Asking for the bytes after the end gets HTTP 416; the part is discarded and fetched again.
    download.download(url, dest, expected=RemoteFile(None, None), stream=io.StringIO())
    assert dest.read_bytes() == hub.files["model.safetensors"]
    assert model_gets(hub) == [f"bytes={len(hub.files['model.safetensors'])}-", None]


def test_a_part_file_longer_than_the_file_is_discarded(hub: Hub, tmp_path: Path) -> None:
    dest = tmp_path / "model.safetensors"
    (tmp_path / "model.safetensors.part").write_bytes(hub.files["model.safetensors"] + b"junk")
    download.download(download.file_url(hub.url, REPO, "model.safetensors"), dest, stream=io.StringIO())
    assert dest.read_bytes() == hub.files["model.safetensors"]
    assert model_gets(hub) == [None]


# --- Verification and errors ------------------------------------------------------------------
def test_a_sha256_mismatch_is_refused_and_removed(hub: Hub, tmp_path: Path) -> None:
    hub.wrong_sha256 = True
    out = tmp_path / "weights" / "124M"
    with pytest.raises(ExportError) as excinfo:
        export_model("124M", out, base_url=hub.url, stream=io.StringIO())
    one_line_error(excinfo, "sha256", "re-run to download it again")
    cache = tmp_path / "weights" / ".download" / "124M"
    assert not (cache / "vocab.json").exists() and not (cache / "vocab.json.part").exists()
    assert not out.exists()


def test_a_size_that_changes_is_refused(hub: Hub, tmp_path: Path) -> None:
    hub.announced_size["model.safetensors"] = 123
    with pytest.raises(DownloadError) as excinfo:
        download.download(download.file_url(hub.url, REPO, "model.safetensors"), tmp_path / "m",
                          stream=io.StringIO())
    one_line_error(excinfo, "now says", "earlier 123")


def test_not_found_is_one_line(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(ExportError) as excinfo:
        export_model("355M", tmp_path / "355M", base_url=hub.url, stream=io.StringIO())
    one_line_error(excinfo, "openai-community/gpt2-medium/resolve/main/config.json", "HTTP 404", "--base-url")


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ExportError) as excinfo:
        export_model("124M", tmp_path / "124M", base_url=f"http://127.0.0.1:{port}", stream=io.StringIO())
    one_line_error(excinfo, "cannot reach", "--base-url")


def test_an_unknown_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError) as excinfo:
        export_model("7B", tmp_path / "7B")
    one_line_error(excinfo, "unknown model size '7B'", "124M")


def test_a_folder_in_the_way_is_refused(hub: Hub, tmp_path: Path) -> None:
    out = tmp_path / "124M"
    out.mkdir()
    with pytest.raises(ExportError) as excinfo:
        export_model("124M", out, base_url=hub.url, stream=io.StringIO())
    one_line_error(excinfo, "not a complete export")
    assert hub.requests == []


def test_probe_reads_the_hubs_headers(hub: Hub) -> None:
    lfs = probe(download.file_url(hub.url, REPO, "model.safetensors"))
    content = hub.files["model.safetensors"]
    assert lfs == RemoteFile(len(content), hashlib.sha256(content).hexdigest())
    plain = probe(download.file_url(hub.url, REPO, "config.json"))
    assert plain == RemoteFile(len(hub.files["config.json"]), None, git_sha1(hub.files["config.json"]))


# --- Progress ---------------------------------------------------------------------------------
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_in_a_log_is_plain_lines() -> None:
    log = io.StringIO()
    progress = Progress("model.safetensors", 1000, stream=log)
    progress.start()
    for _ in range(20):
        progress.update(50)
    progress.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert 2 <= len(lines) <= 12
    assert lines[0].startswith("model.safetensors:   0%")
    assert "100%" in lines[-1] and "1.0 kB / 1.0 kB" in lines[-1] and "/s" in lines[-1] and "ETA" in lines[-1]


def test_progress_on_a_terminal_redraws_one_line() -> None:
    screen = Terminal()
    progress = Progress("model.safetensors", 10_000_000, done=5_000_000, stream=screen)
    progress.start()
    progress.update(1_000_000)
    progress.close()
    out = screen.getvalue()
    assert out.startswith("model.safetensors: resuming after 5.0 MB\n")
    assert "\r" in out and "ETA" in out and out.endswith("\n")
    assert "60% 6.0 MB / 10.0 MB" in out


# --- The command line -------------------------------------------------------------------------
def test_cli_downloads_and_reruns(hub: Hub, tmp_path: Path, expected: dict[str, bytes]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(ROOT / "export_weights.py"), "--model", "124M", "--base-url", hub.url]
    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert_exported(tmp_path / "weights" / "124M", expected)
    assert "model.safetensors" in first.stderr and "Traceback" not in first.stderr

    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and "nothing to do" in second.stdout

    bad = subprocess.run([*command[:-1], hub.url + "/nowhere", "--out", "other"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "HTTP 404" in bad.stderr


def test_potatogpt_download_exports_then_generates(hub: Hub, tmp_path: Path) -> None:
    """`python -m potatogpt --download` with no weights: export first, then the usual stream."""
    reference = json.loads((FIXTURE / "reference.json").read_text(encoding="utf-8"))
    case = reference["greedy"][0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "potatogpt", "--download", "--base-url", hub.url, "--model", "124M",
               "-n", str(len(case["new_ids"])), "--ignore-eot", case["prompt_text"]]
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == case["prompt_text"] + case["new_text"] + "\n"
    assert (tmp_path / "weights" / "124M" / "manifest.json").is_file()
    assert "Traceback" not in run.stderr
