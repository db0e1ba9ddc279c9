"""Sharded training images: WebDataset tar shards and BAGEL's parquet layout, read as a resumable stream.

Layouts (what :func:`pack_folder` writes, and what :func:`open_shards` reads):

- **tar** (WebDataset): ``shard-000000.tar``, ... Each record is the members sharing a *key* (a member's name
  up to its first dot), e.g. ``0001234.png``; a record's image is its member with an image extension
  (or ``.npy``: raw HxWx3 uint8 pixels, ``uare data pack --encoding raw``, read without decoding).
- **parquet** (BAGEL's ``t2i_pretrain`` layout): ``shard-000000.parquet``, ... with a binary ``image``
  column (the encoded file) and a ``key`` column, in row groups; beside them BAGEL's ``parquet_info.json``
  (``{path: {"num_row_groups": n}}``) and a ``dataset_info.json`` entry (``data_dir``, ``num_files``,
  ``num_total_samples``, ``parquet_info_path``). A BAGEL folder of parquet files with an ``image`` column
  is read as it is, with or without those two files.
- ``manifest.json`` (written by :func:`pack_folder`): the layout, the sample count, and per shard its name,
  samples, bytes and SHA-256. A folder whose shards do not match its manifest (missing, unlisted or of
  another size) is refused at start with one line; ``uare data check`` also verifies the hashes.

Reading (:class:`ShardStream`): a shard set is a list of *units* (a tar file; a parquet row group). Epoch
``e`` permutes the units with ``numpy.random.default_rng([seed, e])``; reader slot ``g`` of ``G`` (one slot
per rank x DataLoader worker) takes units ``perm[g::G]`` and reads their records in stored order, epoch
after epoch. So every record is read once per epoch across all slots, no slot needs a listing of records,
and a slot's position is a :class:`Cursor` ``(epoch, unit, record)`` that a checkpoint stores and a resumed
run starts from. A record that cannot be decoded, or a unit that ends early (a truncated tar, a bad row
group), is skipped with one log line naming shard and key, and counted; training goes on.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from uare.data.images import DataError

MANIFEST = "manifest.json"
FORMAT = "uare-shards"
LAYOUTS: tuple[str, ...] = ("tar", "parquet")
#: extensions a tar record's image member may have (lower case, no dot)
IMAGE_EXTS: tuple[str, ...] = ("png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "npy")
#: images larger than this (width x height) in a shard are skipped, a guard against decompression bombs
MAX_PIXELS = 64_000_000
PARQUET_HINT = "reading parquet shards needs pyarrow: pip install 'uare[shards]'"


def _pyarrow():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(PARQUET_HINT) from None
    return pq


# ------------------------------------------------------------------------------------------ shard sets
@dataclass(frozen=True)
class Unit:
    """One unit of work of a shard set: a tar file, or one row group of a parquet file."""

    path: Path
    layout: str
    row_group: int = 0
    samples: int | None = None  # when known (manifest / parquet footer)

    @property
    def name(self) -> str:
        return self.path.name if self.layout == "tar" else f"{self.path.name}#rg{self.row_group}"


@dataclass
class ShardSet:
    """The units of one or more shard folders, in a fixed order (folders as given, shards by name)."""

    units: list[Unit]
    samples: int | None  # total records when every folder says (manifest or parquet footers)
    roots: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.units)


def _sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a shard folder, its shape checked (one clear line when it is not a manifest)."""
    path = folder / MANIFEST
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable shard manifest ({' '.join(str(e).split())})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT or m.get("layout") not in LAYOUTS \
            or not isinstance(m.get("shards"), list):
        raise DataError(f"{path}: not a uare shard manifest (write one with `uare data pack`)")
    for s in m["shards"]:
        if not (isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("samples"), int)
                and isinstance(s.get("bytes"), int)) or "/" in s["name"] or s["name"].startswith("."):
            raise DataError(f"{path}: malformed shard entry {s!r}")
    return m


def check_manifest(folder: Path, m: dict[str, Any] | None = None, sizes: bool = True,
                   hashes: bool = False) -> list[str]:
    """Problems of ``folder`` against its manifest: a listed shard missing, a shard file the manifest does not
    list, with ``sizes`` a shard of another size, and with ``hashes`` a SHA-256 that differs. Empty when they
    match. Training checks the list only: a damaged shard is skipped when read, it does not stop a run."""
    m = m or read_manifest(folder)
    ext = "." + m["layout"]
    listed = {s["name"]: s for s in m["shards"]}
    problems = []
    for name, s in listed.items():
        p = folder / name
        if not p.is_file():
            problems.append(f"{name} is missing")
        elif sizes and p.stat().st_size != s["bytes"]:
            problems.append(f"{name} has {p.stat().st_size} bytes, the manifest says {s['bytes']}")
        elif hashes and s.get("sha256") and _sha256(p) != s["sha256"]:
            problems.append(f"{name}: SHA-256 differs from the manifest's")
    extra = sorted(p.name for p in folder.iterdir() if p.suffix == ext and p.name not in listed)
    problems += [f"{n} is not in the manifest" for n in extra]
    return problems


def _parquet_units(folder: Path, info: dict[str, Any] | None) -> tuple[list[Unit], int | None]:
    """Units of a parquet folder: row groups from BAGEL's parquet_info (when given) or from the footers."""
    files = sorted(p for p in folder.iterdir() if p.suffix == ".parquet")
    if not files:
        raise DataError(f"{folder}: no .parquet files (a BAGEL data_dir holds them)")
    pq = _pyarrow()
    units: list[Unit] = []
    total: int | None = 0
    for f in files:
        entry = (info or {}).get(str(f)) or (info or {}).get(f.name)
        if isinstance(entry, dict) and isinstance(entry.get("num_row_groups"), int):
            groups: list[int | None] = [None] * entry["num_row_groups"]  # BAGEL's table: no row counts
            total = None
        else:
            try:
                meta = pq.ParquetFile(f).metadata
            except Exception as e:  # a damaged footer: refused at start, it cannot be listed
                raise DataError(f"{f}: unreadable parquet footer ({' '.join(str(e).split())[:200]})") from None
            groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
            total = None if total is None else total + sum(groups)
        units += [Unit(f, "parquet", i, n) for i, n in enumerate(groups)]
    return units, total


def _folder_units(folder: Path) -> tuple[list[Unit], int | None]:
    if (folder / MANIFEST).is_file():
        m = read_manifest(folder)
        problems = check_manifest(folder, m, sizes=False)
        if problems:
            raise DataError(f"{folder}: the shard list does not match {MANIFEST}: {'; '.join(problems[:3])}"
                            f"{f' (+{len(problems) - 3} more)' if len(problems) > 3 else ''}; "
                            "repack, or restore the listed files")
        if m["layout"] == "tar":
            return [Unit(folder / s["name"], "tar", 0, s["samples"]) for s in m["shards"]], m["samples"]
        units = [Unit(folder / s["name"], "parquet", i, n) for s in m["shards"]
                 for i, n in enumerate(s.get("row_groups") or [s["samples"]])]
        return units, m["samples"]
    if any(p.suffix == ".parquet" for p in folder.iterdir()):
        info_path = folder / "parquet_info.json"
        info = json.loads(info_path.read_text()) if info_path.is_file() else None
        return _parquet_units(folder, info)
    if any(p.suffix == ".tar" for p in folder.iterdir()):
        raise DataError(f"{folder}: tar shards without {MANIFEST}; write one with `uare data pack` "
                        "(the manifest makes the shard list checkable)")
    raise DataError(f"{folder}: no shards ({MANIFEST} with .tar or .parquet files, or a BAGEL parquet data_dir)")


def _dataset_info_dirs(path: Path) -> list[Path]:
    """The ``data_dir`` of every entry of a BAGEL-style ``dataset_info.json`` (``{group: {name: {...}}}``);
    ``path#group/name`` picks one entry."""
    text, _, pick = str(path).partition("#")
    p = Path(text)
    try:
        info = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{p}: unreadable dataset_info ({' '.join(str(e).split())})") from None
    dirs = []
    for group, entries in (info.items() if isinstance(info, dict) else []):
        for name, entry in (entries.items() if isinstance(entries, dict) else []):
            if pick and pick != f"{group}/{name}":
                continue
            if not isinstance(entry, dict) or "data_dir" not in entry:
                raise DataError(f"{p}: entry {group}/{name} has no data_dir")
            d = Path(entry["data_dir"])
            dirs.append(d if d.is_absolute() else p.parent / d)
    if not dirs:
        raise DataError(f"{p}: no dataset entries{f' named {pick}' if pick else ''} "
                        "(expected {group: {name: {data_dir: ...}}})")
    return dirs


def open_shards(paths: list[str | Path]) -> ShardSet:
    """The shard set of ``paths``: shard folders (with a manifest, or BAGEL parquet data_dirs), manifest files,
    or BAGEL ``dataset_info.json`` files (``file.json#group/name`` for one entry). Checked, never listed
    record by record."""
    roots: list[Path] = []
    for raw in paths:
        p = Path(str(raw).partition("#")[0])
        if p.is_file() and p.name == MANIFEST:
            roots.append(p.parent)
        elif p.is_file() and p.suffix == ".json":
            roots.extend(_dataset_info_dirs(Path(str(raw))))
        elif p.is_dir():
            roots.append(p)
        else:
            raise DataError(f"{p}: shard folder not found")
    units: list[Unit] = []
    total: int | None = 0
    for r in roots:
        if not r.is_dir():
            raise DataError(f"{r}: shard folder not found")
        u, n = _folder_units(r)
        units += u
        total = None if total is None or n is None else total + n
    if not units:
        raise DataError(f"no shards in {', '.join(str(p) for p in paths)}")
    return ShardSet(units, total, roots)


# ------------------------------------------------------------------------------------------ records
@dataclass(frozen=True)
class Record:
    """One record of a unit: its key and the encoded image."""

    key: str
    data: bytes
    ext: str


def _tar_records(unit: Unit, start: int) -> Iterator[Record]:
    """Records of a tar shard from record ``start`` on (members of one key are consecutive, as WebDataset
    writes them). Members before ``start`` are skipped without reading their data."""
    with tarfile.open(unit.path, "r:") as tf:
        key, group, i = None, {}, 0
        for m in tf:
            if not m.isfile():
                continue
            base = m.name.rsplit("/", 1)[-1]
            k, _, ext = base.partition(".")
            if k != key:
                if key is not None:
                    if i >= start:
                        yield _record(key, group)
                    i += 1
                key, group = k, {}
            if i >= start:
                f = tf.extractfile(m)
                group[ext.lower()] = f.read() if f is not None else b""
        if key is not None:
            if i >= start:
                yield _record(key, group)
            i += 1
    if unit.samples is not None and i < unit.samples:  # a tar cut at a member boundary reads as shorter
        raise DataError(f"ends after {i} of its {unit.samples} records (truncated?)")


def _record(key: str, group: dict[str, bytes]) -> Record:
    for ext in IMAGE_EXTS:
        if ext in group:
            return Record(key, group[ext], ext)
    return Record(key, b"", "")  # no image member: decoding says so


def _parquet_records(unit: Unit, start: int) -> Iterator[Record]:
    pq = _pyarrow()
    pf = pq.ParquetFile(unit.path)
    cols = pf.schema_arrow.names
    if "image" not in cols:
        raise DataError(f"{unit.path}: no 'image' column (BAGEL's t2i layout stores the encoded image there)")
    table = pf.read_row_group(unit.row_group, columns=["image", "key"] if "key" in cols else ["image"])
    images = table.column("image").to_pylist()
    keys = table.column("key").to_pylist() if "key" in cols else None
    first = sum(pf.metadata.row_group(g).num_rows for g in range(unit.row_group))
    for i in range(start, len(images)):
        # without a key column: file, row group and row of the file
        key = str(keys[i]) if keys is not None else f"{unit.path.stem}-rg{unit.row_group}-{first + i}"
        data = images[i]
        yield Record(key, data if isinstance(data, bytes) else b"", "")


def unit_records(unit: Unit, start: int = 0) -> Iterator[Record]:
    """The records of ``unit`` from index ``start`` on."""
    return _tar_records(unit, start) if unit.layout == "tar" else _parquet_records(unit, start)


NPY_MAGIC = b"\x93NUMPY"


def _decode_raw(data: bytes, max_pixels: int) -> np.ndarray:
    """A ``.npy`` record (``uare data pack --encoding raw``): HxWx3 uint8 pixels, no decoding work."""
    f = io.BytesIO(data)
    try:
        fmt = np.lib.format
        version = fmt.read_magic(f)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read(f)  # the header alone (a literal dict, no pickle)
    except ValueError as e:
        raise ValueError(f"damaged raw pixels ({e})") from None
    if dtype != np.uint8 or fortran or len(shape) != 3 or shape[2] != 3:
        raise ValueError(f"raw pixels must be HxWx3 uint8, got {dtype} {shape}")
    if shape[0] * shape[1] > max_pixels:
        raise ValueError(f"{shape[1]}x{shape[0]} exceeds {max_pixels:,} pixels")
    n = shape[0] * shape[1] * 3
    if len(data) - f.tell() != n:
        raise ValueError("the raw pixel data is truncated")
    return np.frombuffer(data, np.uint8, n, f.tell()).reshape(shape)


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An encoded image (or raw ``.npy`` pixels) -> HxWx3 uint8 RGB (EXIF orientation applied); ValueError
    with the reason. The size is read from the header and checked before anything is decoded."""
    if not data:
        raise ValueError("no image data")
    if data[:6] == NPY_MAGIC:
        return _decode_raw(data, max_pixels)
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except Exception as e:
        raise ValueError(f"not a decodable image ({type(e).__name__})") from None
    if w * h > max_pixels:
        raise ValueError(f"{w}x{h} exceeds {max_pixels:,} pixels")
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if arr is None or arr.shape[:2] != (h, w) and arr.shape[:2] != (w, h):
        raise ValueError("the image data is damaged (decoding failed)")
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


# ------------------------------------------------------------------------------------------ the stream
@dataclass(frozen=True)
class Cursor:
    """Where a reader slot stands: epoch, position in the slot's unit list, record within that unit."""

    epoch: int = 0
    unit: int = 0
    record: int = 0

    def to_list(self) -> list[int]:
        return [self.epoch, self.unit, self.record]

    @classmethod
    def from_list(cls, v: Any) -> Cursor:
        if not (isinstance(v, list | tuple) and len(v) == 3 and all(isinstance(x, int) and x >= 0 for x in v)):
            raise DataError(f"malformed data cursor {v!r} in the checkpoint")
        return cls(*v)


def slot_units(n_units: int, seed: int, epoch: int, slot: int, n_slots: int) -> list[int]:
    """The unit indices slot ``slot`` of ``n_slots`` reads in ``epoch`` (a seeded permutation, strided)."""
    perm = np.random.default_rng([int(seed), int(epoch)]).permutation(n_units)
    return [int(u) for u in perm[slot::n_slots]]


Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(f"uare: {msg}", file=sys.stderr, flush=True)


class ShardStream:
    """The records of one reader slot, epoch after epoch, decoded; see the module docstring.

    :meth:`peek` returns the current image (skipping, logging and counting damaged records and units on the
    way); :meth:`advance` moves past it. A sample that is built but not used (it did not fit its pack) is
    not advanced past, so its record is the next one used: every record is used once per epoch.
    """

    def __init__(self, shards: ShardSet, seed: int, slot: int, n_slots: int, cursor: Cursor | None = None,
                 log: Log = _stderr, max_pixels: int = MAX_PIXELS):
        if not 0 <= slot < n_slots:
            raise ValueError(f"slot {slot} outside 0..{n_slots - 1}")
        if len(shards) < n_slots:
            raise DataError(f"{len(shards)} shard units for {n_slots} readers (ranks x data workers): every "
                            f"reader needs one; pack smaller shards (uare data pack --shard-size) or use fewer workers")
        self.shards, self.seed, self.slot, self.n_slots = shards, int(seed), int(slot), int(n_slots)
        self.log, self.max_pixels = log, max_pixels
        self.cursor = cursor or Cursor()
        self.skipped = 0
        self._it: Iterator[Record] | None = None
        self._it_at: tuple[int, int] | None = None  # (epoch, unit) the open iterator reads
        self._current: tuple[Record, np.ndarray] | None = None
        self._units_of: tuple[int, list[int]] | None = None

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers get a copy: the open reader stays here
        return {**self.__dict__, "_it": None, "_it_at": None, "_current": None}

    def _units(self, epoch: int) -> list[int]:
        if self._units_of is None or self._units_of[0] != epoch:
            self._units_of = (epoch, slot_units(len(self.shards), self.seed, epoch, self.slot, self.n_slots))
        return self._units_of[1]

    def _next_unit(self) -> None:
        c = self.cursor
        n = len(self._units(c.epoch))
        self.cursor = Cursor(c.epoch, c.unit + 1, 0) if c.unit + 1 < n else Cursor(c.epoch + 1, 0, 0)
        self._it = None

    def peek(self) -> tuple[Record, np.ndarray]:
        """The current record and its image (HxWx3 uint8 RGB)."""
        if self._current is not None:
            return self._current
        for _ in range(10_000_000):
            c = self.cursor
            unit = self.shards.units[self._units(c.epoch)[c.unit]]
            if self._it is None or self._it_at != (c.epoch, c.unit):
                self._it, self._it_at = unit_records(unit, c.record), (c.epoch, c.unit)
            try:
                rec = next(self._it)
            except StopIteration:
                self._next_unit()
                continue
            except Exception as e:  # a truncated tar, a damaged row group: the rest of the unit is skipped
                self.skipped += 1
                self.log(f"shard {unit.name}: damaged after record {c.record} ({type(e).__name__}: "
                         f"{' '.join(str(e).split())[:160]}); rest of the shard skipped")
                self._next_unit()
                continue
            try:
                img = decode_image(rec.data, self.max_pixels)
            except ValueError as e:
                self.skipped += 1
                self.log(f"shard {unit.name} key {rec.key}: {e}; skipped")
                self.cursor = Cursor(c.epoch, c.unit, c.record + 1)
                continue
            self._current = (rec, img)
            return self._current
        raise DataError(f"no decodable record in {len(self.shards)} shard units")

    def advance(self) -> None:
        """Move past the current record (after :meth:`peek`)."""
        if self._current is None:
            self.peek()
        c = self.cursor
        self.cursor = Cursor(c.epoch, c.unit, c.record + 1)
        self._current = None

    def unit_name(self) -> str:
        c = self.cursor
        return self.shards.units[self._units(c.epoch)[c.unit]].name


# ------------------------------------------------------------------------------------------ packing
ENCODINGS: tuple[str, ...] = ("keep", "png", "raw")


def _encoded(path: Path, max_pixels: int, encoding: str = "keep") -> tuple[bytes, str]:
    """A file's bytes when they decode as an 8-bit image (PNG / JPEG / WebP kept as they are), else a PNG of
    its pixels; ``encoding="png"``: always a PNG; ``"raw"``: the HxWx3 uint8 RGB pixels as ``.npy`` (about
    twice a PNG's size, read without decoding). ValueError naming the reason when it is not a readable image."""
    from uare.io import read_image, to_uint8
    from uare.io.image import ImageReadError

    try:
        loaded = read_image(path, max_pixels=max_pixels)
    except ImageReadError as e:
        raise ValueError(str(e)) from None
    ext = path.suffix.lower().lstrip(".")
    if encoding == "keep" and ext in ("png", "jpg", "jpeg", "webp") and loaded.pixels.dtype == np.uint8:
        return path.read_bytes(), ("jpg" if ext == "jpeg" else ext)
    px = loaded.pixels if loaded.pixels.dtype == np.uint8 else to_uint8(loaded.pixels)
    if encoding == "raw":
        from uare.data.images import to_rgb3

        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(to_rgb3(px)), allow_pickle=False)
        return buf.getvalue(), "npy"
    if px.ndim == 3 and px.shape[2] == 3:
        px = px[:, :, ::-1]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(px))
    if not ok:
        raise ValueError("could not re-encode as PNG")
    return buf.tobytes(), "png"


@dataclass
class PackResult:
    """What :func:`pack_folder` wrote."""

    out: Path
    layout: str
    shards: int
    samples: int
    skipped: list[str]
    bytes: int


def _write_tar(path: Path, records: list[tuple[str, bytes, str]]) -> None:
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tf:
        for key, data, ext in records:
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tf.addfile(info, io.BytesIO(data))


def _write_parquet(path: Path, records: list[tuple[str, bytes, str]], row_group: int) -> list[int]:
    import pyarrow as pa

    pq = _pyarrow()
    table = pa.table({"key": [r[0] for r in records], "image": pa.array([r[1] for r in records], pa.binary()),
                      "ext": [r[2] for r in records]})
    pq.write_table(table, path, row_group_size=row_group, compression="none")
    meta = pq.ParquetFile(path).metadata
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def pack_folder(folder: str | Path, out: str | Path, shard_size: int = 1000, layout: str = "tar",
                seed: int | None = 0, row_group: int = 100, overwrite: bool = False, encoding: str = "keep",
                max_pixels: int | None = None, progress: Any = None, log: Log = _stderr) -> PackResult:
    """Write the images of ``folder`` (recursively) as shards of ``shard_size`` records into ``out``, with a
    manifest. ``seed``: shuffle the records first (None keeps name order). Files that are not readable images
    are left out, each with one log line, and listed in the manifest. Written to a temporary folder beside
    ``out`` and moved into place at the end: an interrupted pack leaves nothing half-written."""
    from uare.io.folders import is_image_name
    from uare.io.image import DEFAULT_MAX_PIXELS

    if layout not in LAYOUTS:
        raise DataError(f"unknown shard layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    if encoding not in ENCODINGS:
        raise DataError(f"unknown encoding {encoding!r}; choose from {', '.join(ENCODINGS)}")
    if shard_size < 1 or row_group < 1:
        raise DataError("--shard-size and --row-group must be >= 1")
    if layout == "parquet":
        _pyarrow()
    src, out = Path(folder), Path(out)
    if not src.is_dir():
        raise DataError(f"{src}: folder not found")
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: exists and is not empty; choose another folder or pass --overwrite")
    files = sorted((p for p in src.rglob("*") if p.is_file() and is_image_name(p)), key=lambda p: p.as_posix())
    if not files:
        raise DataError(f"{src}: no images (png, jpg, webp, bmp, tif files, in sub-folders too)")
    if progress is not None:
        progress.set_total(len(files))
    order = list(range(len(files)))
    if seed is not None:
        order = [int(i) for i in np.random.default_rng(int(seed)).permutation(len(files))]
    width = max(6, len(str(len(files) // shard_size + 1)))
    tmp = out.parent / f".{out.name}.packing-{os.getpid()}"
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    shards: list[dict[str, Any]] = []
    skipped: list[str] = []
    buf: list[tuple[str, bytes, str]] = []
    total_bytes = 0

    def flush() -> None:
        nonlocal buf, total_bytes
        if not buf:
            return
        name = f"shard-{len(shards):0{width}d}.{layout}"
        path = tmp / name
        entry: dict[str, Any] = {"name": name, "samples": len(buf)}
        if layout == "tar":
            _write_tar(path, buf)
        else:
            entry["row_groups"] = _write_parquet(path, buf, row_group)
        entry["bytes"] = path.stat().st_size
        entry["sha256"] = _sha256(path)
        entry["first_key"], entry["last_key"] = buf[0][0], buf[-1][0]
        total_bytes += entry["bytes"]
        shards.append(entry)
        buf = []

    try:
        for i in order:
            f = files[i]
            rel = f.relative_to(src).as_posix()
            try:
                data, ext = _encoded(f, max_pixels or DEFAULT_MAX_PIXELS, encoding)
            except (ValueError, OSError) as e:
                skipped.append(rel)
                log(f"{rel}: {' '.join(str(e).split())[:200]}; left out")
                continue
            # the key: the file's index in name order (stable, no dots, unique), the path in the manifest
            buf.append((f"{i:0{len(str(len(files)))}d}", data, ext))
            if len(buf) >= shard_size:
                flush()
            if progress is not None:
                progress.update(1, item=rel)
        flush()
        if not shards:
            raise DataError(f"{src}: none of its {len(files)} files is a readable image")
        samples = sum(s["samples"] for s in shards)
        manifest = {"format": FORMAT, "version": 1, "layout": layout, "samples": samples, "shards": shards,
                    "source": str(src.resolve()), "shuffle_seed": seed, "encoding": encoding, "skipped": skipped,
                    "keys": "the index of the file in the source folder's name order"}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        if layout == "parquet":  # BAGEL's two tables, pointing at the final folder
            final = out.resolve()
            info = {str(final / s["name"]): {"num_row_groups": len(s["row_groups"])} for s in shards}
            (tmp / "parquet_info.json").write_text(json.dumps(info, indent=1) + "\n")
            ds = {"uare_images": {out.name: {"data_dir": str(final), "num_files": len(shards),
                                             "num_total_samples": samples,
                                             "parquet_info_path": str(final / "parquet_info.json")}}}
            (tmp / "dataset_info.json").write_text(json.dumps(ds, indent=1) + "\n")
        if out.exists():
            import shutil

            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return PackResult(out, layout, len(shards), samples, skipped, total_bytes)
