"""Render uare-tiny's published results (one JSON) into the model card and benchmarks/RESULTS.md.

    python benchmarks/model_card.py            # rewrite the generated blocks from the JSON
    python benchmarks/model_card.py --check    # exit 1 when a document differs from the JSON

The numbers live once, in ``benchmarks/results/uare_tiny_release2.json`` (written by
``benchmarks/uare_tiny.py --docs``, which also renders). Each document holds the rendered tables between
``<!-- generated:uare_tiny_release2 -->`` and ``<!-- /generated:uare_tiny_release2 -->``; edit the prose
around them, never the tables.
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
    ap.add_argument("--json", type=Path, default=ut.RELEASE_JSON,
                    help=f"the release's results (default: {ut.RELEASE_JSON.relative_to(ROOT)})")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 when a document is stale")
    args = ap.parse_args(argv)
    stale = ut.update_docs(args.json, check=args.check)
    for doc in stale:
        what = "differs from" if args.check else "rewritten from"
        print(f"{doc.relative_to(ROOT)}: {what} {args.json.name}", file=sys.stderr)
    if args.check and stale:
        print("run: python benchmarks/model_card.py", file=sys.stderr)
        return 1
    if not stale:
        print(f"up to date with {args.json.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
