"""Atomic file writes: a reader never sees a half-written output, and a failure leaves nothing behind.

Every output goes to a hidden temporary file in the destination folder (same file system, so the final
rename is atomic) whose name keeps the real extension, because OpenCV picks the codec from it. The
temporary file is moved into place only after the writer returned without error.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from uare.errors import OutputExistsError, UareError

_umask: int | None = None


def _default_file_mode() -> int:
    """Permissions an ordinary ``open()`` would give: mkstemp creates 0600 files, which surprises users."""
    global _umask
    if _umask is None:
        # os.umask can only be read by setting it; do it once so concurrent writers don't race on it.
        _umask = os.umask(0o022)
        os.umask(_umask)
    return 0o666 & ~_umask


def exists_error(path: Path) -> OutputExistsError:
    """The error for an output that is already there (one line, with the fix)."""
    return OutputExistsError(f"{path}: output file already exists; pass --overwrite to replace it")


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block succeeds, move it to ``path``.

    The temporary file is named ``.<stem>.tmp-XXXX<suffix>``. It is removed whatever happens, so an
    exception inside the block leaves neither a temporary file nor an output. Without ``overwrite``
    an existing ``path`` raises :class:`OutputExistsError`, checked before writing and again, without a
    race, when the file is moved into place. The parent folder is created if needed. ``OSError`` s of
    the file system (permissions, full disk) become a one-line :class:`UareError`.
    """
    path = Path(path)
    if path.is_dir():
        raise UareError(f"{path}: is a folder, expected an output file name")
    if path.exists() and not overwrite:
        raise exists_error(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.tmp-", suffix=path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise UareError(f"{path}: cannot create the output file ({e.strerror or e}); "
                        "check that the folder is writable") from e
    tmp = Path(tmp_name)
    try:
        yield tmp
        try:
            os.chmod(tmp, _default_file_mode())
            _move_into_place(tmp, path, overwrite=overwrite)
        except OSError as e:
            raise UareError(f"{path}: cannot write the output file ({e.strerror or e}); "
                            "check that the folder is writable and has free space") from e
    finally:
        tmp.unlink(missing_ok=True)


def _move_into_place(tmp: Path, path: Path, *, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        # A hard link fails if the target exists, closing the gap between our check and the rename.
        os.link(tmp, path)
    except FileExistsError:
        raise exists_error(path) from None
    except OSError:
        # File systems without hard links (some network / FAT mounts): best effort check, then rename.
        if path.exists():
            raise exists_error(path) from None
        os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    """Let records carry numpy scalars/arrays and paths without the caller converting them first."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def write_json_atomic(path: str | os.PathLike[str], obj: Any, *, overwrite: bool = False) -> Path:
    """Write ``obj`` as indented UTF-8 JSON to ``path`` atomically (see :func:`atomic_path`).

    Numpy scalars and arrays are converted to plain numbers and lists. The object is serialised
    before anything touches the disk, so a non-serialisable object leaves no file. Returns ``path``.
    """
    path = Path(path)
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
