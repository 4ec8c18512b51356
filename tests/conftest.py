"""The fixtures more than one test file uses (the helpers they are built from are in helpers.py)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import (BUNDLED, CHECKPOINTS, GRADIENT_CASES, HUB_CHECKPOINT, RANDOM_CONFIG, Exported, Hub, QuietServer,
                     make_handler, random_params)
from potatogpt.api import GPT2
from potatogpt.convert import download
from potatogpt.convert.export import convert
from potatogpt.tokenizer import Tokenizer


# --- Weights folders ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """The committed checkpoints converted to potatogpt's format, once per session (read only)."""
    return Exported(tmp_path_factory.mktemp("exported"))


@pytest.fixture(scope="session")
def folders(exported: Exported) -> dict[str, Path]:
    """The checkpoints with PyTorch gradient references (helpers.GRADIENT_CASES), exported."""
    return {name: exported.folder(name) for name in GRADIENT_CASES}


@pytest.fixture
def tiny_export(exported: Exported) -> Path:
    """The exported tiny checkpoint, shared: read it, don't damage it."""
    return exported.folder("tiny")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A private export of the tiny checkpoint, free to damage.  (Converted afresh, not copied from
    `exported`: a shared export may have gained a packed cache, which would spare a load its reading.)"""
    return convert(CHECKPOINTS / "tiny", tmp_path / "tiny")


@pytest.fixture
def hf_named(tmp_path: Path) -> Path:
    """An export whose manifest lists Hugging Face's names for the tokenizer: vocab.json + merges.txt."""
    source = tmp_path / "source"
    shutil.copytree(CHECKPOINTS / "tiny-vocab", source)
    shutil.copy(BUNDLED / "encoder.json", source / "vocab.json")
    shutil.copy(BUNDLED / "vocab.bpe", source / "merges.txt")
    return convert(source, tmp_path / "out")


# --- A model on random in-memory weights --------------------------------------------------------
@pytest.fixture(scope="module")
def model() -> GPT2:
    return GPT2(RANDOM_CONFIG, random_params(RANDOM_CONFIG), Tokenizer.gpt2())


# --- Downloading -------------------------------------------------------------------------------
@pytest.fixture
def hub() -> Iterator[Hub]:
    """A stand-in for the Hugging Face hub on 127.0.0.1, serving checkpoints/tiny-vocab as GPT-2 124M."""
    files = {
        "config.json": (HUB_CHECKPOINT / "config.json").read_bytes(),
        "model.safetensors": (HUB_CHECKPOINT / "model.safetensors").read_bytes(),
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


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """No waiting between download attempts (a test file asks for it with `pytestmark`)."""
    monkeypatch.setattr(download, "RETRY_DELAY", 0.0)
    monkeypatch.setattr(download, "TIMEOUT", 10.0)


@pytest.fixture(scope="module")
def served_export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """What converting the hub's checkpoint directly gives, file by file (manifest aside)."""
    source = tmp_path_factory.mktemp("src") / "ckpt"
    source.mkdir()
    shutil.copy(HUB_CHECKPOINT / "config.json", source)
    shutil.copy(HUB_CHECKPOINT / "model.safetensors", source)
    shutil.copy(BUNDLED / "encoder.json", source / "vocab.json")
    shutil.copy(BUNDLED / "vocab.bpe", source / "merges.txt")
    out = convert(source, tmp_path_factory.mktemp("out") / "w")
    return {p.name: p.read_bytes() for p in out.iterdir() if p.name != "manifest.json"}
