"""Opening files that may not be files (weights/regular_files.py): a regular file, or a link to
one, opens as usual; a pipe, a folder or a device is refused at once, in words, as an OSError.
(Each reader's own refusal, in its own words, is tested beside that reader.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import NOT_FILES, POSIX, never_waits, put_not_a_file
from potatogpt.weights.regular_files import NotARegularFile, irregular, open_for_writing, read_bytes


def test_a_file_and_a_link_to_one_read_as_usual(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    (tmp_path / "link").symlink_to("f")
    assert read_bytes(tmp_path / "f") == read_bytes(tmp_path / "link") == b"data"
    assert irregular(tmp_path / "f") is None and irregular(tmp_path / "link") is None
    assert irregular(tmp_path / "absent") is None
    with pytest.raises(FileNotFoundError):
        read_bytes(tmp_path / "absent")


# --- Hostile -----------------------------------------------------------------------------------
@POSIX
@pytest.mark.parametrize("kind", NOT_FILES)
def test_reading_what_is_not_a_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "f"
    put_not_a_file(path, kind)
    with never_waits(), pytest.raises(NotARegularFile) as excinfo:
        read_bytes(path)
    assert isinstance(excinfo.value, OSError) and excinfo.value.filename == str(path)
    assert excinfo.value.strerror is not None and "not a regular file" in excinfo.value.strerror
    assert irregular(path) in ("a named pipe (FIFO)", "a folder", "a device")


@POSIX
@pytest.mark.parametrize("kind", [*NOT_FILES, "a link to a file"])
def test_writing_refuses_anything_but_a_file_or_nothing(tmp_path: Path, kind: str) -> None:
    """Never written through: a pipe would block, a link could lead anywhere."""
    path = tmp_path / "f.part"
    if kind == "a link to a file":
        (tmp_path / "elsewhere").write_bytes(b"keep me")
        path.symlink_to("elsewhere")
    else:
        put_not_a_file(path, kind)
    with never_waits(), pytest.raises(NotARegularFile):
        open_for_writing(path, append=True)
    if kind == "a link to a file":
        assert (tmp_path / "elsewhere").read_bytes() == b"keep me"


def test_writing_a_file_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "f.part"
    with open_for_writing(path) as f:
        f.write(b"ab")
    with open_for_writing(path, append=True) as f:
        f.write(b"cd")
    assert path.read_bytes() == b"abcd"
    with open_for_writing(path) as f:
        f.write(b"x")
    assert path.read_bytes() == b"x"
