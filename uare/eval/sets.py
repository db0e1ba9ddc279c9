"""The paper's evaluation sets by name: paired real-world x4 SR sets and IQA MOS sets.

One table each (:data:`PAIRED_SETS`, :data:`MOS_SETS`) says, per set name, where its files lie under
the set's root folder, which environment variable names that root, the default root under
``../shared/datasets`` next to the repository, and where to download it (``docs/eval_sets.md`` has
the same list for people). The root is ``--root DIR`` when given, else the variable, else the
default; each problem is one :class:`~uare.errors.UareError` line naming the expected layout.

Paired sets (``uare bench restore --set``), all x4, read in the public layouts:

- ``realsr-canon`` / ``realsr-nikon`` / ``realsr`` (both, 100 pairs): RealSR V3,
  ``<cam>/Test/4/<cam>_NNN_HR.png`` with ``<cam>_NNN_LR4.png``; or StableSR's 128 -> 512 crops,
  ``test_HR/`` with ``test_LR/`` (the Canon / Nikon split by file-name prefix).
- ``drealsr``: DRealSR, ``Test_x4/test_HR/<name>_x1.png`` with ``Test_x4/test_LR/<name>_x4.png``; or
  StableSR's crops, ``test_HR/`` with ``test_LR/``.
- ``div2k-val``: StableSR's DIV2K-Val, ``DIV2K_V2_val/gt/0000000.png`` (512 px) with
  ``DIV2K_V2_val/lq/0000000.png`` (128 px), 3000 pairs; the root may also be ``DIV2K_V2_val`` itself.

Files pair by stem after dropping a ``_HR`` / ``_LR4`` / ``_x1`` / ``_x4`` / ``_gt`` / ``_lq`` suffix.
An LR image the size of its HR (RealSR V3 ships its LR images registered at the HR size) is
reduced x1/4 with the MATLAB-style antialiased bicubic of :func:`uare.degrade.sr_downsample`, as
the 128 px inputs of StableSR's crops are; an LR image a quarter of the size is used as it is. The
HR image is mod-cropped to a multiple of 4. Either way the restorers see a x4 problem.

MOS sets (``uare bench iqa --set``), read with :func:`uare.data.mos.read_mos_table`:

- ``kadid10k``: ``dmos.csv`` (``dist_img, ref_img, dmos, var``; DMOS 1-5, higher = better) and
  ``images/``.
- ``spaq``: ``Annotations/MOS and Image attribute scores.xlsx`` (or a CSV export of it, also accepted
  at the root; ``.xlsx`` needs openpyxl) and ``TestImage/``. The images are 4000x3000-class photos:
  they are resized (bicubic) so the short side is 512 px before scoring (our choice, for speed and
  memory; pyiqa's SPAQ loader resizes to 448).
- ``csiq``: ``csiq.DMOS.xlsx`` (the official sheet, or its CSV / tab-separated text export
  ``csiq.DMOS.csv`` / ``.txt``) or pyiqa's ``csiq_label.txt``, and ``dst_imgs/`` (the official
  per-type folders, or flat) or ``dst_imgs_all/``. DMOS 0-1, lower = better: the truth is -DMOS.

The truth of an image is its MOS (its negated DMOS where lower is better), so SRCC / PLCC come
out positive for a scorer that agrees with people.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from uare.errors import UareError
from uare.io import is_image_name

#: the eight restoration metrics of the paper's Table 1, the default of the paired sets
PAPER_SR_METRICS: tuple[str, ...] = ("psnr", "ssim", "lpips", "dists", "musiq", "maniqa", "topiq", "liqe")
#: PSNR / SSIM convention of the paired sets: Y of YCbCr, no border crop (pyiqa as StableSR / OSEDiff call it)
PAPER_PROTOCOL = "realisr"
_MAX_LISTED = 8
_SUFFIX = re.compile(r"[_-](hr|lr\d*|x\d+|gt|lq)$", re.IGNORECASE)


def shared_datasets() -> Path:
    """``<repo>/../shared/datasets``, the team's offline data folder (may not exist)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _listing(items: list[str]) -> str:
    more = f" (and {len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else ""
    return ", ".join(items[:_MAX_LISTED]) + more


# ------------------------------------------------------------------------------------------ tables


@dataclass(frozen=True)
class Part:
    """HR and LR files of one part of a paired set: globs relative to the set's root."""

    hr: str
    lr: str


@dataclass(frozen=True)
class Layout:
    """One way a paired set is laid out on disk (the first layout whose HR files exist is used)."""

    title: str
    parts: tuple[Part, ...]

    def describe(self) -> str:
        """``hr-glob + lr-glob [, ...] (title)``."""
        return ", ".join(f"{p.hr} + {p.lr}" for p in self.parts) + f" ({self.title})"


@dataclass(frozen=True)
class PairedSet:
    """A named paired SR test set."""

    name: str
    title: str
    layouts: tuple[Layout, ...]
    env: str
    default: str  # relative to ../shared/datasets
    url: str
    scale: int = 4


@dataclass(frozen=True)
class MOSSet:
    """A named IQA set: its MOS table(s) (first found is read), image folders and score direction."""

    name: str
    title: str
    tables: tuple[tuple[str, str], ...]  # (path relative to the root, layout of uare.data.mos)
    images: tuple[str, ...]  # image folders relative to the root, searched recursively
    lower_better: bool
    env: str
    default: str  # relative to ../shared/datasets
    url: str
    short_side: int | None = None  # resize so the short side is at most this (None: as is)


def _v3(cam: str) -> Part:
    return Part(f"{cam}/Test/4/*_HR.*", f"{cam}/Test/4/*_LR4.*")


def _crops(prefix: str = "") -> Part:
    return Part(f"test_HR/{prefix}*", f"test_LR/{prefix}*")


_REALSR_URL = ("RealSR V3: https://github.com/csjcai/RealSR; 128->512 crops: "
               "https://huggingface.co/datasets/Iceclear/StableSR-TestSets")
_DREALSR_URL = ("DRealSR: https://github.com/xiezw5/Component-Divide-and-Conquer-for-Real-World-Image-Super-Resolution; "
                "128->512 crops: https://huggingface.co/datasets/Iceclear/StableSR-TestSets")
_STABLESR_URL = "https://huggingface.co/datasets/Iceclear/StableSR-TestSets (DIV2K_V2_val)"

PAIRED_SETS: dict[str, PairedSet] = {s.name: s for s in (
    PairedSet("realsr", "RealSR V3 test, Canon + Nikon", (
        Layout("RealSR V3", (_v3("Canon"), _v3("Nikon"))), Layout("StableSR crops", (_crops(),))),
        "UARE_REALSR_ROOT", "test/RealSR", _REALSR_URL),
    PairedSet("realsr-canon", "RealSR V3 test, Canon", (
        Layout("RealSR V3", (_v3("Canon"),)), Layout("StableSR crops", (_crops("Canon_"),))),
        "UARE_REALSR_ROOT", "test/RealSR", _REALSR_URL),
    PairedSet("realsr-nikon", "RealSR V3 test, Nikon", (
        Layout("RealSR V3", (_v3("Nikon"),)), Layout("StableSR crops", (_crops("Nikon_"),))),
        "UARE_REALSR_ROOT", "test/RealSR", _REALSR_URL),
    PairedSet("drealsr", "DRealSR test x4", (
        Layout("DRealSR", (Part("Test_x4/test_HR/*", "Test_x4/test_LR/*"),)),
        Layout("StableSR crops", (_crops(),))),
        "UARE_DREALSR_ROOT", "test/DRealSR", _DREALSR_URL),
    PairedSet("div2k-val", "StableSR DIV2K-Val: 512 px GT, 128 px LQ (Real-ESRGAN degradations)", (
        Layout("StableSR DIV2K_V2_val", (Part("DIV2K_V2_val/gt/*", "DIV2K_V2_val/lq/*"),)),
        Layout("the DIV2K_V2_val folder itself", (Part("gt/*", "lq/*"),))),
        "UARE_DIV2K_VAL_ROOT", "test/DIV2K_V2_val", _STABLESR_URL),
)}

_SPAQ_TABLE = "MOS and Image attribute scores"
MOS_SETS: dict[str, MOSSet] = {s.name: s for s in (
    MOSSet("kadid10k", "KADID-10k: 81 references x 25 distortions x 5 levels, DMOS 1-5 (higher = better)",
           (("dmos.csv", "kadid"),), ("images",), False, "UARE_KADID10K_ROOT", "iqa/kadid10k",
           "http://database.mmsp-kn.de/kadid-10k-database.html"),
    MOSSet("spaq", "SPAQ: smartphone photos, MOS 0-100, scored at 512 px on the short side",
           tuple((f"{d}{_SPAQ_TABLE}.{ext}", "spaq") for ext in ("csv", "xlsx") for d in ("Annotations/", "")),
           ("TestImage",), False, "UARE_SPAQ_ROOT", "iqa/SPAQ", "https://github.com/h4nwei/SPAQ", short_side=512),
    MOSSet("csiq", "CSIQ: 30 references x 6 distortions x 4-5 levels, DMOS 0-1 (lower = better)",
           (("csiq.DMOS.csv", "csiq"), ("csiq.DMOS.txt", "csiq"), ("csiq_label.txt", "generic"),
            ("csiq.DMOS.xlsx", "csiq")),
           ("dst_imgs", "dst_imgs_all"), True, "UARE_CSIQ_ROOT", "iqa/CSIQ", "https://s2.smu.edu/~eclarson/csiq.html"),
)}


def _names(text: str | list[str]) -> list[str]:
    return [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]


def _pick(names: str | list[str], table: dict[str, Any], what: str) -> list[Any]:
    wanted = _names(names)
    if not wanted:
        raise UareError(f"no {what} set named; choose from {', '.join(table)}")
    unknown = [n for n in wanted if n not in table]
    if unknown:
        raise UareError(f"unknown {what} set(s) {', '.join(unknown)}; choose from {', '.join(table)}")
    return [table[n] for n in dict.fromkeys(wanted)]


def paired_sets(names: str | list[str]) -> list[PairedSet]:
    """Paired sets by (comma-separated) name; an unknown name raises, listing the valid ones."""
    return _pick(names, PAIRED_SETS, "restore")


def mos_sets(names: str | list[str]) -> list[MOSSet]:
    """IQA MOS sets by (comma-separated) name; an unknown name raises, listing the valid ones."""
    return _pick(names, MOS_SETS, "IQA")


def set_root(spec: PairedSet | MOSSet, root: str | Path | None = None) -> Path:
    """The root folder of a set: ``root``, else ``$<spec.env>``, else the shared default; checked."""
    if root:
        p, origin = Path(root).expanduser(), "--root"
    elif os.environ.get(spec.env):
        p, origin = Path(os.environ[spec.env]).expanduser(), spec.env
    else:
        p = shared_datasets() / spec.default
        if not p.is_dir():
            raise UareError(f"{spec.name}: no dataset folder: pass --root DIR or set {spec.env} (default {p} "
                            f"not found); download: {spec.url}")
        return p
    if not p.is_dir():
        raise UareError(f"{spec.name}: {origin} {p} is not a folder; download: {spec.url}")
    return p


def root_for(sets: list[Any], root: str | Path | None) -> list[Path]:
    """The roots of ``sets``; ``root`` may name the folder of one set only."""
    if root and len(sets) > 1:
        raise UareError(f"--root names the folder of one set; for {', '.join(s.name for s in sets)} set "
                        f"{', '.join(dict.fromkeys(s.env for s in sets))} instead")
    return [set_root(s, root) for s in sets]


# ------------------------------------------------------------------------------------------ paired


@dataclass(frozen=True)
class Pair:
    """One HR / LR pair of a paired set."""

    key: str
    hr: Path
    lr: Path


def pair_key(stem: str) -> str:
    """A file stem without its ``_HR`` / ``_LR4`` / ``_x1`` / ``_x4`` / ``_gt`` / ``_lq`` suffix."""
    return _SUFFIX.sub("", stem)


def _by_key(root: Path, pattern: str, set_name: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    dups: list[str] = []
    for p in sorted(root.glob(pattern)):
        if not (p.is_file() and is_image_name(p)):
            continue
        k = pair_key(p.stem)
        if k in out:
            dups.append(f"{out[k].name}/{p.name}")
        out[k] = p
    if dups:
        raise UareError(f"{set_name}: several files of {root / pattern} pair as one image: {_listing(dups)}")
    return out


def find_pairs(spec: PairedSet, root: Path) -> tuple[list[Pair], Layout]:
    """The pairs of ``spec`` under ``root`` (sorted by key within each part) and the layout found.

    Raises :class:`UareError` for a root without pairs (naming the expected layouts), a layout part
    without files, and HR / LR files left without their partner.
    """
    for layout in spec.layouts:
        found = [_by_key(root, part.hr, spec.name) for part in layout.parts]
        if not any(found):
            continue
        pairs: list[Pair] = []
        for part, hr in zip(layout.parts, found, strict=True):
            if not hr:
                raise UareError(f"{spec.name}: no images match {root / part.hr} ({layout.title} layout)")
            lr = _by_key(root, part.lr, spec.name)
            only_hr, only_lr = sorted(set(hr) - set(lr)), sorted(set(lr) - set(hr))
            if only_hr or only_lr:
                bits = [f"{len(only_hr)} HR without LR ({root / part.lr}): {_listing(only_hr)}"] if only_hr else []
                bits += [f"{len(only_lr)} LR without HR ({root / part.hr}): {_listing(only_lr)}"] if only_lr else []
                raise UareError(f"{spec.name}: unpaired files; " + "; ".join(bits))
            pairs += [Pair(k, hr[k], lr[k]) for k in sorted(hr)]
        return pairs, layout
    expected = " or ".join(lay.describe() for lay in spec.layouts)
    raise UareError(f"{spec.name}: no image pairs under {root}; expected {expected}")


def check_pair_sizes(spec: PairedSet, pairs: list[Pair]) -> int:
    """Check every pair's sizes from the file headers; return how many LR images are HR-sized.

    An LR image must be the HR size or 1/scale of it (the HR up to scale-1 pixels larger: it is
    mod-cropped); anything else is listed in one :class:`UareError`.
    """
    from uare.eval.restore import _header_size

    s = spec.scale
    same, bad = 0, []
    for p in pairs:
        try:
            (hh, hw), (lh, lw) = _header_size(p.hr), _header_size(p.lr)
        except Exception:  # noqa: BLE001 - any failure to identify the file is a user problem
            bad.append(f"{p.key} (unreadable)")
            continue
        if (hh, hw) == (lh, lw) and hh >= s and hw >= s:
            same += 1
        elif not (0 <= hh - s * lh < s and 0 <= hw - s * lw < s and lh > 0 and lw > 0):
            bad.append(f"{p.key} (HR {hw}x{hh}, LR {lw}x{lh})")
    if bad:
        raise UareError(f"{spec.name}: {len(bad)} pair(s) are neither the same size nor x{s}: {_listing(bad)}")
    return same


def load_pair(pair: Pair, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(LR input, HR ground truth) as uint8 RGB: a HR-sized LR is reduced x1/scale, the HR mod-cropped."""
    from uare.degrade import modcrop, sr_downsample
    from uare.eval.bench_restore import load_clean

    hr, lr = load_clean(pair.hr), load_clean(pair.lr)
    if lr.shape[:2] == hr.shape[:2]:
        lq, _ = sr_downsample(lr, scale)
        return np.ascontiguousarray(lq), np.ascontiguousarray(modcrop(hr, scale))
    h, w = lr.shape[0] * scale, lr.shape[1] * scale
    return lr, np.ascontiguousarray(hr[:h, :w])


# ------------------------------------------------------------------------------------------ MOS


@dataclass(frozen=True)
class MOSEntry:
    """One rated image of a MOS set: its name in the table, file and truth (higher = better)."""

    name: str
    path: Path
    truth: float


def mos_table(spec: MOSSet, root: Path) -> tuple[Path, str]:
    """The first of ``spec.tables`` found under ``root`` and its layout; a clear error when there is none.

    Text tables come before ``.xlsx`` in the lists, so a CSV export next to the sheet is read
    without openpyxl.
    """
    found = [(root / rel, layout) for rel, layout in spec.tables if (root / rel).is_file()]
    if not found:
        raise UareError(f"{spec.name}: no MOS table under {root}; expected one of "
                        f"{', '.join(rel for rel, _ in spec.tables)} (download: {spec.url})")
    return found[0]


def mos_entries(spec: MOSSet, root: Path, limit: int | None = None) -> list[MOSEntry]:
    """The rated images of a set (the first ``limit`` rows of its table); every one must exist."""
    from uare.data.mos import read_mos_table

    table, layout = mos_table(spec, root)
    dirs = [root / d for d in spec.images if (root / d).is_dir()]
    if not dirs:
        raise UareError(f"{spec.name}: no image folder under {root}; expected {' or '.join(spec.images)}")
    rows = read_mos_table(table, dirs[0], layout)[: limit or None]
    index: dict[str, Path] = {}
    for d in dirs:
        for p in sorted(d.rglob("*")):
            if p.is_file() and is_image_name(p):
                index.setdefault(p.name.lower(), p)
    out, missing = [], []
    for r in rows:
        p = index.get(r.path.name.lower())
        if p is None:
            missing.append(r.path.name)
            continue
        out.append(MOSEntry(r.path.name, p, -r.mos if spec.lower_better else r.mos))
    if missing:
        raise UareError(f"{spec.name}: {len(missing)} image(s) of {table.name} not found under "
                        f"{', '.join(map(str, dirs))}: {_listing(missing)}")
    return out


def resize_short(img: np.ndarray, short_side: int | None) -> np.ndarray:
    """``img`` resized (bicubic, antialiased) so its short side is ``short_side``; as is when already smaller."""
    if short_side is None or min(img.shape[:2]) <= short_side:
        return img
    from PIL import Image

    h, w = img.shape[:2]
    f = short_side / min(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BICUBIC))


def mos_items(spec: MOSSet, entries: list[MOSEntry]) -> Iterator[Any]:
    """The :class:`~uare.eval.bench_iqa.IQAItem` of each entry, loaded one at a time."""
    from uare.eval.bench_iqa import IQAItem
    from uare.eval.bench_restore import load_clean

    for e in entries:
        yield IQAItem(spec.name, e.name, resize_short(load_clean(e.path), spec.short_side), e.truth)
