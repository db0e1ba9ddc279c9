"""Finding the input images of a command: one file, or the images of one folder."""

from __future__ import annotations

import os
from pathlib import Path

from uare.errors import UareError

#: Extensions (lower case, with the dot) treated as images when a folder is given.
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image_name(path: str | os.PathLike[str]) -> bool:
    """True if the file name has an image extension and is not hidden.

    Hidden files are skipped because they are our own temporary files (``.name.tmp-XXXX.png``) or
    macOS resource forks (``._name.png``), never pictures the user meant.
    """
    p = Path(path)
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def iter_inputs(path: str | os.PathLike[str]) -> list[Path]:
    """The input files named by ``path``.

    A file is returned as is (whatever its extension: the reader decides whether it is an image).
    A folder gives its image files (see :data:`IMAGE_EXTENSIONS`, case-insensitive), not recursing
    into sub-folders, sorted by name so that runs and per-file seeds are reproducible.
    Raises :class:`UareError` if ``path`` does not exist or the folder holds no image.
    """
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.exists():
        raise UareError(f"{p}: no such file or folder; check the input path")
    if not p.is_dir():
        raise UareError(f"{p}: not a regular file or folder")
    files = sorted((c for c in p.iterdir() if c.is_file() and is_image_name(c)), key=lambda c: c.name)
    if not files:
        exts = ", ".join(e.lstrip(".") for e in IMAGE_EXTENSIONS)
        raise UareError(f"{p}: folder holds no image files ({exts}); check the input folder")
    return files


def left_out(path: str | os.PathLike[str]) -> str | None:
    """One line naming the files of folder ``path`` that :func:`iter_inputs` leaves out (not an image
    extension; hidden files and sub-folders are not counted), or None."""
    p = Path(path)
    if not p.is_dir():
        return None
    names = sorted(c.name for c in p.iterdir() if c.is_file() and not c.name.startswith(".") and not is_image_name(c))
    if not names:
        return None
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    exts = ", ".join(e.lstrip(".") for e in IMAGE_EXTENSIONS)
    return (f"{p}: left out {len(names)} file(s) that are not {exts} images: {shown} (convert images in other "
            "formats, e.g. GIF, to PNG to include them)")
