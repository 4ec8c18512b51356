"""The --packed cache: written on first use, read back bit for bit, rebuilt when stale or damaged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import NOT_FILES, POSIX, ROOT, Exported, put_not_a_file
from potatogpt.api import load
from potatogpt.fast import packed, packed_cache
from potatogpt.fast.packed_cache import CACHE_NAME, packed_weights
from potatogpt.weights.checkpoint import Checkpoint, open_checkpoint

IDS = [464, 3290, 318, 257, 1310, 11, 290]


@pytest.fixture
def folder(exported: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the tiny real-vocabulary export (each test damages its own), and a
    private user cache folder.  (In this file, in place of conftest.py's tiny `folder`.)"""
    copy = tmp_path / "weights"
    shutil.copytree(exported.folder("tiny-vocab"), copy)
    (copy / CACHE_NAME).unlink(missing_ok=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    return copy


def fresh_logits(folder: Path) -> list[float]:
    """Logits from weights quantized right now, with no cache anywhere near."""
    scratch = folder.parent / "no-cache"
    shutil.copytree(folder, scratch)
    (scratch / CACHE_NAME).unlink(missing_ok=True)
    model = load(scratch, storage="packed")
    shutil.rmtree(scratch)
    return model.next_token_logits(IDS)


def notes_of(folder: Path) -> list[str]:
    notes: list[str] = []
    packed_weights(open_checkpoint(folder), say=notes.append)
    return notes


def test_first_use_writes_the_cache_and_it_gives_the_same_logits(folder: Path) -> None:
    expected = fresh_logits(folder)
    first = load(folder, storage="packed")
    assert (folder / CACHE_NAME).is_file()
    assert first.next_token_logits(IDS) == expected
    cached = load(folder, storage="packed")
    assert cached.next_token_logits(IDS) == expected  # bit for bit, not approximately
    assert [p.name for p in folder.iterdir() if ".tmp" in p.name] == []


def test_the_cached_weights_equal_freshly_quantized_ones(folder: Path) -> None:
    checkpoint = open_checkpoint(folder)
    packed_weights(checkpoint)  # writes the cache
    from_cache = packed_cache.read_cache(folder / CACHE_NAME, checkpoint)
    for name, weight in from_cache.items():
        n_out, n_in = checkpoint.shape(name)
        fresh = packed.prepare_packed(checkpoint.read(name), n_in, n_out)
        assert weight.row_max == fresh.row_max and weight.row_max_sum == fresh.row_max_sum
        for a, b in zip(weight.chunks, fresh.chunks, strict=True):
            assert (a.start, a.width, a.rows, a.offset, a.scales) == (b.start, b.width, b.rows, b.offset, b.scales)


def test_a_cache_is_used_without_quantizing(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load(folder, storage="packed")

    def no_quantizing(*args: object, **kwargs: object) -> packed.PackedWeight:
        raise AssertionError("quantized although a valid cache was there")

    monkeypatch.setattr(packed_cache, "prepare_packed", no_quantizing)
    load(folder, storage="packed")


def test_new_weights_make_the_cache_stale(folder: Path) -> None:
    load(folder, storage="packed")
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    # Re-export stand-in: the same sizes, but the manifest says the bytes are different ones.
    entry = next(t for t in manifest["tensors"] if t["name"] == "h.0.mlp.c_fc.weight")
    entry["sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    notes = notes_of(folder)
    assert len(notes) == 1 and "stale" in notes[0]
    header_sources = packed_cache.read_cache(folder / CACHE_NAME, open_checkpoint(folder))
    assert "h.0.mlp.c_fc.weight" in header_sources  # rebuilt for the new manifest, and valid
    assert notes_of(folder) == []


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "garbage", "empty"])
def test_a_damaged_cache_is_noted_and_rebuilt(folder: Path, damage: str) -> None:
    expected = fresh_logits(folder)
    load(folder, storage="packed")
    path = folder / CACHE_NAME
    data = bytearray(path.read_bytes())
    if damage == "flip a byte":
        data[len(data) // 3] ^= 0x10
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(b"not a cache at all" * 100)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    notes = notes_of(folder)
    assert len(notes) == 1 and "ignoring the packed cache" in notes[0] and "\n" not in notes[0]
    assert notes_of(folder) == []  # rebuilt
    assert load(folder, storage="packed").next_token_logits(IDS) == expected


def test_a_deleted_cache_only_costs_time(folder: Path) -> None:
    expected = load(folder, storage="packed").next_token_logits(IDS)
    (folder / CACHE_NAME).unlink()
    assert load(folder, storage="packed").next_token_logits(IDS) == expected
    assert (folder / CACHE_NAME).is_file()


def test_an_unwritable_folder_falls_back_to_the_user_cache(folder: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # (Tests may run as root, who can write anywhere: a file where a folder should be fails for all.)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    user = tmp_path / "user" / "packed-x.cache"
    monkeypatch.setattr(packed_cache, "cache_paths", lambda checkpoint: [blocked / CACHE_NAME, user])
    assert notes_of(folder) == []
    assert user.is_file()
    assert notes_of(folder) == []  # and read from there next time


def test_nowhere_to_write_is_one_note(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    monkeypatch.setattr(packed_cache, "cache_paths", lambda checkpoint: [blocked / "a", blocked / "b"])
    notes = notes_of(folder)
    assert len(notes) == 1 and "could not save the packed cache" in notes[0]


def test_two_first_runs_at_once(folder: Path) -> None:
    """Two processes quantize and write at the same time: both finish, the cache is whole."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "potatogpt", "--weights", str(folder), "--packed", "-n", "3", "--ignore-eot",
               "Hello"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
            for _ in range(2)]
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    assert results[0][0] == results[1][0]
    assert all("note" not in err for _, err in results), results
    assert notes_of(folder) == []
    assert [p.name for p in folder.iterdir() if ".tmp" in p.name] == []


# --- --jobs: every process reads its slice of the cache -------------------------------------------
def test_jobs_read_the_cache_and_agree_with_one_process(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = load(folder, storage="packed")  # writes the cache
    expected = one.next_token_logits(IDS)

    def no_quantizing(*args: object, **kwargs: object) -> packed.PackedWeight:
        raise AssertionError("quantized although a valid cache was there")

    # Workers are forked on Linux, so they inherit this too: a worker that quantized would die.
    monkeypatch.setattr(packed_cache, "prepare_packed", no_quantizing)
    model = load(folder, storage="packed", jobs=2)
    try:
        assert model.next_token_logits(IDS) == expected
    finally:
        model.close()


def test_jobs_without_a_cache_make_one(folder: Path) -> None:
    expected = fresh_logits(folder)
    model = load(folder, storage="packed", jobs=2)
    try:
        assert model.next_token_logits(IDS) == expected
    finally:
        model.close()
    assert notes_of(folder) == []  # a valid cache is there now


def test_a_damaged_cache_that_cannot_be_replaced_is_not_rebuilt_every_time(
        folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    damaged = tmp_path / "read-only" / CACHE_NAME
    damaged.parent.mkdir()
    damaged.write_bytes(b"damaged")
    user = tmp_path / "user" / "packed-x.cache"
    monkeypatch.setattr(packed_cache, "cache_paths", lambda checkpoint: [damaged, user])
    monkeypatch.setattr(packed_cache, "_write", failing_write_to(damaged))
    notes_of(folder)
    assert user.is_file()

    def no_quantizing(*args: object, **kwargs: object) -> packed.PackedWeight:
        raise AssertionError("quantized although a valid cache was there")

    monkeypatch.setattr(packed_cache, "prepare_packed", no_quantizing)
    notes = notes_of(folder)  # the damaged one is still noted, and the good one is used
    assert len(notes) == 1 and "ignoring" in notes[0]


def test_jobs_report_and_rebuild_a_damaged_cache(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A flipped bit in a block (not the header): with --jobs too, one note, then a whole cache again."""
    expected = fresh_logits(folder)
    load(folder, storage="packed")
    path = folder / CACHE_NAME
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x10
    path.write_bytes(bytes(data))
    capsys.readouterr()
    model = load(folder, storage="packed", jobs=2)
    try:
        assert model.next_token_logits(IDS) == expected
    finally:
        model.close()
    notes = capsys.readouterr().err.splitlines()
    assert len(notes) == 1 and "ignoring the packed cache" in notes[0] and "damaged" in notes[0], notes
    assert notes_of(folder) == []  # rebuilt


def failing_write_to(forbidden: Path) -> Callable[[Path, Checkpoint, dict[str, packed.PackedWeight]], None]:
    """packed_cache._write, except that `forbidden` is read-only (as it would be for anyone but root)."""
    write = packed_cache._write

    def guarded(path: Path, checkpoint: Checkpoint, weights: dict[str, packed.PackedWeight]) -> None:
        if path == forbidden:
            raise PermissionError(13, "Permission denied", str(path))
        write(path, checkpoint, weights)

    return guarded


# --- The progress callback ------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["exact", "packed first use", "packed cached", "packed cache damaged late"])
def test_progress_counts_every_weight_file_once(folder: Path, case: str) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    total = sum(t["bytes"] for t in manifest["tensors"])
    if case != "packed first use":
        load(folder, storage="packed")
    if case == "packed cache damaged late":
        path = folder / CACHE_NAME
        data = bytearray(path.read_bytes())
        data[len(data) * 9 // 10] ^= 0x01  # past the first matrices: they are read, then it fails
        path.write_bytes(bytes(data))
    calls: list[tuple[int, int]] = []
    load(folder, storage="exact" if case == "exact" else "packed", progress=lambda done, all: calls.append((done, all)))
    assert calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert {all for _, all in calls} == {total}


# --- Hostile: the cache's place taken by a pipe, a folder or a device --------------------------------
@POSIX
@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("kind", NOT_FILES)
def test_a_cache_that_is_not_a_file_is_noted_never_waited_on(folder: Path, kind: str, jobs: int) -> None:
    """packed.cache as a FIFO used to block the load forever on open().  Now: one note, the run goes on."""
    expected = fresh_logits(folder)
    put_not_a_file(folder / CACHE_NAME, kind)
    command = [sys.executable, "-m", "potatogpt", "--weights", str(folder), "--packed", "--jobs", str(jobs),
               "-n", "3", "--ignore-eot", "Hello"]
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("potatogpt: note")]
    assert len(notes) == 1 and str(folder / CACHE_NAME) in notes[0] and "not a regular file" in notes[0], result.stderr
    assert len(result.stderr.splitlines()) == 2  # the note and the summary
    model = load(folder, storage="packed")  # and what it used instead gives the right numbers
    assert model.next_token_logits(IDS) == expected
