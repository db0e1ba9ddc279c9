"""Argument types shared by the ``uare`` sub-commands."""

from __future__ import annotations

import argparse


def _int_type(lo: int | None, hi: int | None, what: str):
    """An argparse type for integers in [lo, hi] (None: unbounded) whose errors say ``expected {what}``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    return parse


#: argparse type: an integer > 0
positive_int = _int_type(1, None, "a positive integer")
#: argparse type: an integer >= 0
nonneg_int = _int_type(0, None, "a non-negative integer")
#: argparse type: a seed in [0, 2**63 - 1] (what torch's generators accept)
seed_int = _int_type(0, 2**63 - 1, "a seed in [0, 2**63 - 1]")


def bounded_int(lo: int, hi: int):
    """argparse type factory: an integer in [lo, hi]."""
    return _int_type(lo, hi, f"an integer in [{lo}, {hi}]")


def views_int(text: str) -> int:
    """argparse type: a self-ensemble view count (:data:`uare.limits.SELF_ENSEMBLE_VIEWS`)."""
    from uare.limits import SELF_ENSEMBLE_VIEWS

    allowed = ", ".join(map(str, SELF_ENSEMBLE_VIEWS))
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {allowed} views, got {text!r}") from None
    if value not in SELF_ENSEMBLE_VIEWS:
        raise argparse.ArgumentTypeError(f"expected {allowed} views, got {text}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def unit_float(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    value = finite_float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


DEVICES = ("cpu", "cuda", "mps", "auto")


def device_name(text: str) -> str:
    """argparse type: cpu, cuda, cuda:N, mps or auto."""
    t = text.strip().lower()
    base, _, idx = t.partition(":")
    if base not in DEVICES or (idx and (base != "cuda" or not idx.isdigit())):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use cpu, cuda, cuda:N, mps or auto")
    return t


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Give every leaf sub-command ``--threads N`` (applied by ``uare.threads.set_threads``) and
    ``-q/--quiet`` (no progress bars, status or summary lines; errors and skipped files still shown)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        have = {o for a in parser._actions for o in a.option_strings}
        if "--threads" not in have:
            parser.add_argument("--threads", type=bounded_int(1, 1024), default=None, metavar="N",
                                help="CPU threads (default: the free cores: available cores minus the processes "
                                     "running now, or OMP_NUM_THREADS when set)")
        if "--quiet" not in have:
            parser.add_argument("-q", "--quiet", action="store_true",
                                help="no progress bars or status lines (errors and skipped files are still shown)")
        return
    for action in subs:
        for child in set(action.choices.values()):
            add_common_options(child)
