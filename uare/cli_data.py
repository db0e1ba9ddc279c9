"""``uare data``: pack image folders into training shards, and check shards against their manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from uare.cli_args import positive_int, seed_int
from uare.errors import UareError

DATA_EPILOG = """\
examples:
  uare data pack /data/LSDIR/HR shards/lsdir --shard-size 1000              WebDataset tar shards
  uare data pack /data/LSDIR/HR shards/lsdir-pq --layout parquet            BAGEL's parquet layout
  uare data check shards/lsdir                                              sizes and SHA-256 of every shard

A training source reads them with `shards: [shards/lsdir]` instead of `folders:` (docs/data.md).
"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``data pack`` and ``data check`` on the ``uare`` sub-parsers."""
    p = sub.add_parser("data", help="pack image folders into training shards (tar or parquet) and check them",
                       description="Training data at scale: shards that many ranks stream from.",
                       epilog=DATA_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_subparsers(dest="data_command", title="what", metavar="<what>", required=True)
    pk = what.add_parser("pack", help="write a folder's images as shards with a manifest",
                         description="Write the images of FOLDER (recursively) into OUT as shards of N records, "
                         "shuffled, with manifest.json (counts, sizes, SHA-256). Files that are not readable "
                         "images are left out, one line each, and listed in the manifest.")
    pk.add_argument("folder", metavar="FOLDER", help="folder of images")
    pk.add_argument("out", metavar="OUT", help="output folder (new or empty)")
    pk.add_argument("--shard-size", type=positive_int, default=1000, metavar="N",
                    help="records per shard (default: 1000); pack at least ranks x data workers shards")
    pk.add_argument("--layout", choices=("tar", "parquet"), default="tar",
                    help="tar: WebDataset tar shards; parquet: BAGEL's layout with parquet_info.json and "
                    "dataset_info.json (needs pyarrow) (default: tar)")
    pk.add_argument("--row-group", type=positive_int, default=100, metavar="N",
                    help="parquet: records per row group, the unit readers split (default: 100)")
    pk.add_argument("--encoding", choices=("keep", "png", "raw"), default="keep",
                    help="keep: PNG / JPEG / WebP files as they are (others become PNG); png: every image as "
                    "PNG; raw: uncompressed RGB pixels (.npy, ~2x a PNG's size, no decoding when training) "
                    "(default: keep)")
    pk.add_argument("--seed", type=seed_int, default=0, metavar="N", help="shuffle seed (default: 0)")
    pk.add_argument("--no-shuffle", action="store_true", help="keep the folder's name order")
    pk.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    pk.set_defaults(func=cmd_pack)
    ck = what.add_parser("check", help="verify shards against their manifest (list, sizes, SHA-256)",
                         description="Exit 0 when every shard of FOLDER matches manifest.json, else one line "
                         "naming the first problems and exit 2.")
    ck.add_argument("folder", metavar="FOLDER", help="a folder written by `uare data pack`")
    ck.set_defaults(func=cmd_check)


def cmd_pack(args: argparse.Namespace) -> int:
    from uare.data.shards import pack_folder
    from uare.progress import Progress

    src = Path(args.folder)
    if not src.is_dir():
        raise UareError(f"{src}: folder not found")
    bar = Progress(None, "pack", quiet=args.quiet)
    try:
        res = pack_folder(src, args.out, args.shard_size, args.layout, None if args.no_shuffle else args.seed,
                          args.row_group, args.overwrite, args.encoding, progress=bar, log=lambda m: bar.write(f"uare: {m}"))
    finally:
        bar.close()
    if not args.quiet:
        print(f"{res.samples} images in {res.shards} {res.layout} shards ({res.bytes / 1e6:.1f} MB), "
              f"{len(res.skipped)} left out -> {res.out}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from uare.data.shards import check_manifest, read_manifest

    folder = Path(args.folder)
    m = read_manifest(folder)
    problems = check_manifest(folder, m, sizes=True, hashes=True)
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        print(f"uare: error: {folder}: {'; '.join(problems[:3])}{more}", file=sys.stderr)
        return 2
    print(f"{folder}: {len(m['shards'])} shards, {m['samples']} samples: match the manifest (sizes and SHA-256)")
    return 0
