"""Downloads on a bad day: a proxy's error page, a garbage --base-url, the cache's place taken."""

from __future__ import annotations

import errno
import hashlib
import io
from pathlib import Path

import pytest
from test_download import Hub, git_sha1, hub, quick  # noqa: F401 - pytest fixtures, used by name
from test_safetensors import one_line_error

from potatogpt.convert import download
from potatogpt.convert.download import DownloadError
from potatogpt.convert.export import ExportError, export_model
from potatogpt.weights.checkpoint import open_checkpoint

ERROR_PAGE = b"<html><body>502 Bad Gateway (proxy)</body></html>"


def export(hub: Hub, out: Path) -> Path:
    return export_model("124M", out, base_url=hub.url, stream=io.StringIO())


def test_an_error_page_instead_of_a_small_file_is_refused_and_not_kept(hub: Hub, tmp_path: Path) -> None:
    real = hub.files["config.json"]
    hub.files["config.json"] = ERROR_PAGE
    hub.etags["config.json"] = git_sha1(real)  # the hub's own answer to HEAD got through
    out = tmp_path / "weights" / "124M"
    with pytest.raises(ExportError) as excinfo:
        export(hub, out)
    one_line_error(excinfo, "config.json", "ETag", "re-run")
    cache = tmp_path / "weights" / ".download" / "124M"
    assert not (cache / "config.json").exists() and not (cache / "config.json.part").exists()
    hub.files["config.json"] = real  # the proxy recovers; the remedy the message gave works
    export(hub, out)
    open_checkpoint(out, verify_sha256=True)


def test_an_error_page_nothing_could_catch_is_removed_when_conversion_fails(hub: Hub, tmp_path: Path) -> None:
    real = hub.files["merges.txt"]
    hub.files["merges.txt"] = ERROR_PAGE
    hub.etags["merges.txt"] = "not-a-hash"  # the proxy answers HEAD itself: nothing to check against
    out = tmp_path / "weights" / "124M"
    with pytest.raises(ExportError) as excinfo:
        export(hub, out)
    one_line_error(excinfo, "merges.txt", "was removed", "run the same command again")
    assert not (tmp_path / "weights" / ".download" / "124M" / "merges.txt").exists()
    hub.files["merges.txt"] = real
    export(hub, out)
    open_checkpoint(out, verify_sha256=True)


def test_a_plain_sha1_etag_is_accepted_too(hub: Hub, tmp_path: Path) -> None:
    hub.etags["config.json"] = hashlib.sha1(hub.files["config.json"]).hexdigest()  # as some mirrors do
    export(hub, tmp_path / "w")


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
        export(hub, tmp_path / "weights" / "124M")
    one_line_error(excinfo, "config.json", "is in the way")


def test_weights_that_is_a_file(hub: Hub, tmp_path: Path) -> None:
    (tmp_path / "weights").write_text("oops")
    with pytest.raises(ExportError) as excinfo:
        export(hub, tmp_path / "weights" / "124M")
    one_line_error(excinfo, f"{tmp_path / 'weights'} is a file")


def test_a_folder_that_cannot_be_created(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)  # a read-only working directory (root ignores chmod)
    with pytest.raises(ExportError) as excinfo:
        export(hub, tmp_path / "weights" / "124M")
    one_line_error(excinfo, "Permission denied", "a folder you can write to")


def test_download_refuses_in_one_line_without_the_exporter(tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as excinfo:
        download.fetch("nonsense", "openai-community/gpt2", ["config.json"], tmp_path)
    one_line_error(excinfo, "'nonsense'")
