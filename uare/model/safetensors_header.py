"""Read and validate a safetensors header without loading any tensor.

Format: 8 bytes little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
optional ``__metadata__``, then the data. A file whose data is shorter than the header promises is
truncated; we say so instead of failing later inside a load.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from uare.errors import UareError

DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
               "F8_E4M3": 1, "F8_E5M2": 1}


class CheckpointError(UareError):
    """A checkpoint folder or file is missing, broken, of the wrong shape or of an unsafe format."""


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    offsets: tuple[int, int]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * DTYPE_BYTES.get(self.dtype, 4)


def read_header(path: str | Path) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Tensor infos and metadata of a safetensors file, after checking it is complete."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: not a safetensors file (only {size} bytes); re-download or re-save it")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, 100_000_000):
            raise CheckpointError(f"{path}: not a safetensors file or truncated (header of {n} bytes in a "
                                  f"{size}-byte file); re-download or re-save it")
        raw = fh.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: safetensors header is not valid JSON; the file is corrupt") from None
    meta = header.pop("__metadata__", {}) or {}
    infos: dict[str, TensorInfo] = {}
    end = 0
    for name, d in header.items():
        try:
            info = TensorInfo(d["dtype"], tuple(int(s) for s in d["shape"]), (int(d["data_offsets"][0]),
                                                                               int(d["data_offsets"][1])))
        except (KeyError, TypeError, ValueError, IndexError):
            raise CheckpointError(f"{path}: malformed entry for tensor {name!r}; the file is corrupt") from None
        if info.offsets[1] - info.offsets[0] != info.nbytes:
            raise CheckpointError(f"{path}: tensor {name!r} has {info.offsets[1] - info.offsets[0]} bytes for "
                                  f"shape {list(info.shape)} {info.dtype}; the file is corrupt")
        end = max(end, info.offsets[1])
        infos[name] = info
    if 8 + n + end > size:
        raise CheckpointError(f"{path}: truncated ({size} bytes, the header needs {8 + n + end}); "
                              "re-download or re-save it")
    return infos, dict(meta)
