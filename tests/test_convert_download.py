"""Resumable, verified downloads from the hub (convert/download.py), against the stand-in hub of
helpers.py: resuming, Range, ETags and sha256 sums, error pages, a bad --base-url, the cache's
place taken, and the progress line."""

from __future__ import annotations

import errno
import hashlib
import io
import socket
from pathlib import Path

import pytest

from helpers import (
    ERROR_PAGE,
    NOT_FILES,
    POSIX,
    QUIRKS,
    REPO,
    Hub,
    assert_exported,
    export_from_hub,
    git_sha1,
    model_gets,
    never_waits,
    one_error_line,
    one_line_error,
    put_not_a_file,
    run_cli,
)
from potatogpt.convert import download
from potatogpt.convert.download import DownloadError, Progress, RemoteFile, probe
from potatogpt.convert.export import ExportError, export_model
from potatogpt.weights.checkpoint import open_checkpoint

pytestmark = pytest.mark.usefixtures("quick")


# --- Resuming ---------------------------------------------------------------------------------
def test_a_cut_transfer_resumes_in_the_same_run(hub: Hub, tmp_path: Path, served_export: dict[str, bytes]) -> None:
    hub.cuts["model.safetensors"] = 2
    out = tmp_path / "weights" / "124M"
    log = io.StringIO()
    export_model("124M", out, base_url=hub.url, stream=log)
    assert_exported(out, served_export)
    size = len(hub.files["model.safetensors"])
    half = size // 2
    assert model_gets(hub) == [None, f"bytes={half}-", f"bytes={half + (size - half) // 2}-"]
    assert "interrupted" in log.getvalue()


def test_a_cut_transfer_resumes_on_the_next_run(hub: Hub, tmp_path: Path, served_export: dict[str, bytes],
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
    assert_exported(out, served_export)
    assert model_gets(hub) == [None, f"bytes={half}-"]
    # The small files that had finished were not fetched again.
    assert [p for m, p, _ in hub.requests if m == "GET" and p.endswith("config.json")] == [
        f"/{REPO}/resolve/main/config.json"]


def test_a_server_that_ignores_range_gets_a_clean_restart(hub: Hub, tmp_path: Path, served_export: dict[str, bytes]) -> None:
    hub.cuts["model.safetensors"] = 1
    hub.ignore_range = True
    out = tmp_path / "weights" / "124M"
    export_model("124M", out, base_url=hub.url, stream=io.StringIO())
    assert_exported(out, served_export)
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


def test_probe_reads_the_hubs_headers(hub: Hub) -> None:
    lfs = probe(download.file_url(hub.url, REPO, "model.safetensors"))
    content = hub.files["model.safetensors"]
    assert lfs == RemoteFile(len(content), hashlib.sha256(content).hexdigest())
    plain = probe(download.file_url(hub.url, REPO, "config.json"))
    assert plain == RemoteFile(len(hub.files["config.json"]), None, git_sha1(hub.files["config.json"]))


# --- On a bad day: a proxy's error page, a garbage --base-url, the cache's place taken --------
def test_an_error_page_instead_of_a_small_file_is_refused_and_not_kept(hub: Hub, tmp_path: Path) -> None:
    real = hub.files["config.json"]
    hub.files["config.json"] = ERROR_PAGE
    hub.etags["config.json"] = git_sha1(real)  # the hub's own answer to HEAD got through
    out = tmp_path / "weights" / "124M"
    with pytest.raises(ExportError) as excinfo:
        export_from_hub(hub, out)
    one_line_error(excinfo, "config.json", "ETag", "re-run")
    cache = tmp_path / "weights" / ".download" / "124M"
    assert not (cache / "config.json").exists() and not (cache / "config.json.part").exists()
    hub.files["config.json"] = real  # the proxy recovers; the remedy the message gave works
    export_from_hub(hub, out)
    open_checkpoint(out, verify_sha256=True)


def test_a_plain_sha1_etag_is_accepted_too(hub: Hub, tmp_path: Path) -> None:
    hub.etags["config.json"] = hashlib.sha1(hub.files["config.json"]).hexdigest()  # as some mirrors do
    export_from_hub(hub, tmp_path / "w")


@pytest.mark.parametrize("base_url", ["", "huggingface.co", "http://[::1", "ftp://example.com", "http://", "https://host:99999",
                                      "  ", "http://exa mple.com:x"])
def test_a_garbage_base_url_is_one_line(tmp_path: Path, base_url: str) -> None:
    with pytest.raises(ExportError) as excinfo:
        export_model("124M", tmp_path / "w", base_url=base_url, stream=io.StringIO())
    one_line_error(excinfo, "--base-url", "is not a web address")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_where_a_downloaded_file_belongs(hub: Hub, tmp_path: Path) -> None:
    (tmp_path / "weights" / ".download" / "124M" / "config.json").mkdir(parents=True)
    with pytest.raises(ExportError) as excinfo:
        export_from_hub(hub, tmp_path / "weights" / "124M")
    one_line_error(excinfo, "config.json", "is in the way")


def test_weights_that_is_a_file(hub: Hub, tmp_path: Path) -> None:
    (tmp_path / "weights").write_text("oops")
    with pytest.raises(ExportError) as excinfo:
        export_from_hub(hub, tmp_path / "weights" / "124M")
    one_line_error(excinfo, f"{tmp_path / 'weights'} is a file")


def test_a_folder_that_cannot_be_created(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)  # a read-only working directory (root ignores chmod)
    with pytest.raises(ExportError) as excinfo:
        export_from_hub(hub, tmp_path / "weights" / "124M")
    one_line_error(excinfo, "Permission denied", "a folder you can write to")


def test_download_refuses_in_one_line_without_the_exporter(tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as excinfo:
        download.fetch("nonsense", "openai-community/gpt2", ["config.json"], tmp_path)
    one_line_error(excinfo, "'nonsense'")


# --- Hostile: a server that misbehaves, a pipe where the partial file belongs ---------------------
@pytest.mark.parametrize("quirk", list(QUIRKS))
def test_a_misbehaving_server_is_one_short_line(hub: Hub, tmp_path: Path, quirk: str) -> None:
    """urllib pastes what the server sent into its exceptions (a redirect loop's reason is three
    lines; a malformed status line arrives with its raw CR/LF): the message must stay one line."""
    hub.quirks["config.json"] = quirk
    with pytest.raises(ExportError) as excinfo:
        export_from_hub(hub, tmp_path / "weights" / "124M")
    message = one_line_error(excinfo, "config.json")
    assert len(message) < 500 and message.isprintable(), message
    if quirk == "redirect loop":
        assert "redirect" in message
    assert not (tmp_path / "weights" / "124M").exists()


def test_a_misbehaving_server_through_the_command_line(hub: Hub, tmp_path: Path) -> None:
    hub.quirks["config.json"] = "malformed status line"
    result = run_cli("--model", "124M", "--base-url", hub.url, "-n", "1", "Hi", cwd=tmp_path)
    assert result.returncode == 1
    announcement, *error = result.stderr.splitlines()  # (what is about to be downloaded, then the error)
    assert announcement.startswith("downloading GPT-2 124M")
    one_error_line("\n".join(error), "config.json", "HTTP/1.1 2OO OK")


@POSIX
@pytest.mark.parametrize("kind", NOT_FILES)
def test_a_partial_file_that_is_not_a_file_is_in_the_way(hub: Hub, tmp_path: Path, kind: str) -> None:
    """A FIFO as config.json.part used to take the download's open() forever."""
    cache = tmp_path / "weights" / ".download" / "124M"
    cache.mkdir(parents=True)
    put_not_a_file(cache / "config.json.part", kind)
    with never_waits(), pytest.raises(ExportError) as excinfo:
        export_from_hub(hub, tmp_path / "weights" / "124M")
    one_line_error(excinfo, "config.json.part", "is in the way", "not a regular file")


@POSIX
def test_a_pipe_where_a_downloaded_file_belongs(hub: Hub, tmp_path: Path) -> None:
    cache = tmp_path / "weights" / ".download" / "124M"
    cache.mkdir(parents=True)
    put_not_a_file(cache / "model.safetensors")
    with never_waits(), pytest.raises(ExportError) as excinfo:
        export_from_hub(hub, tmp_path / "weights" / "124M")
    one_line_error(excinfo, "model.safetensors", "is in the way")


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
