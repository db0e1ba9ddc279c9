"""Render uare-tiny's published results (one JSON) into the model card and benchmarks/RESULTS.md.

    python benchmarks/model_card.py            # rewrite the generated blocks from the JSON
    python benchmarks/model_card.py --check    # exit 1 when a document differs from the JSON

The numbers live once per release, in ``benchmarks/results/uare_tiny_releaseN.json`` (written by
``benchmarks/uare_tiny.py --docs``, which also renders). Each document holds each release's rendered tables
between ``<!-- generated:uare_tiny_releaseN -->`` and ``<!-- /generated:uare_tiny_releaseN -->``; edit the
prose around them, never the tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def uare_tiny():
    """``benchmarks/uare_tiny.py`` as a module (its renderers; nothing is run)."""
    spec = importlib.util.spec_from_file_location("uare_tiny_bench", ROOT / "benchmarks" / "uare_tiny.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    ut = uare_tiny()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None,
                    help="one release's results (default: every release, "
                         f"{', '.join(str(j.relative_to(ROOT)) for j in ut.RELEASE_JSONS)})")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 when a document is stale")
    args = ap.parse_args(argv)
    stale = []
    for js in [args.json] if args.json else [j for j in ut.RELEASE_JSONS if j.is_file()]:
        for doc in ut.update_docs(js, check=args.check):
            what = "differs from" if args.check else "rewritten from"
            print(f"{doc.relative_to(ROOT)}: {what} {js.name}", file=sys.stderr)
            stale.append(doc)
        if not stale:
            print(f"up to date with {js.name}", file=sys.stderr)
    if args.check and stale:
        print("run: python benchmarks/model_card.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
