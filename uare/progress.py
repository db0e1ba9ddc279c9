"""Progress of long commands, as a person at a terminal and a log file each want it.

On a terminal: a tqdm bar with rate and ETA. Not on a terminal (a pipe, a log file, CI): a plain line
per finished item (``uare restore: 3/10 img, 12 s, ETA 28 s: photo.png``) and, inside one long item
(the flow steps or tiles of a big image, a training run), a status line at most every ``every_s``
seconds -- never minutes of silence, never bar redraws in a log. ``quiet``: nothing but the messages
passed to :meth:`Progress.write` (skipped files, warnings), which are problems, not progress.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _fmt_s(s: float) -> str:
    s = max(0.0, s)
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


class Progress:
    """One counter (``total`` items of ``unit``) with an optional inner stage (:meth:`inner`);
    ``outer=False`` shows the inner stage only (one image: its steps or tiles, no 1/1 bar)."""

    def __init__(self, total: int | None, desc: str, unit: str = "img", quiet: bool = False,
                 stream: TextIO | None = None, every_s: float = 10.0, initial: int = 0, tty: bool | None = None,
                 outer: bool = True):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.desc, self.unit, self.quiet, self.every_s = desc, unit, quiet, every_s
        self.total, self.n, self.initial, self.outer = total, initial, initial, outer
        self.t0 = self._last = time.monotonic()
        self.bar: Any = None
        self._inner: Any = None
        self._item_t0: float | None = None  # when the current item's inner stage began
        if self.tty and not quiet and outer:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=self.stream, dynamic_ncols=True)

    # ------------------------------------------------------------------ outer counter
    def set_total(self, total: int | None) -> None:
        """The item count, once it is known (after the counter was made)."""
        self.total = total
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()

    def update(self, n: int = 1, item: str | None = None, **postfix: Any) -> None:
        """``n`` items done (``item`` names the last one in the plain-line form)."""
        self.n += n
        if self.bar is not None:
            if postfix:
                self.bar.set_postfix(**postfix, refresh=False)
            self.bar.update(n)
        elif not self.quiet and self.outer:
            self._line(item, postfix, force=not postfix)

    def _eta(self) -> str:
        done = self.n - self.initial
        if not self.total or done <= 0:
            return ""
        per = (time.monotonic() - self.t0) / done
        return f", ETA {_fmt_s(per * (self.total - self.n))}"

    def _line(self, item: str | None, postfix: dict[str, Any] | None = None, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s and self.n != self.total:
            return
        self._last = now
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        extra = "".join(f", {k} {v}" for k, v in (postfix or {}).items())
        tail = f": {item}" if item else ""
        print(f"uare {self.desc}: {count} {self.unit}, {_fmt_s(now - self.t0)}{self._eta()}{extra}{tail}",
              file=self.stream, flush=True)

    # ------------------------------------------------------------------ inner stage (steps, tiles)
    def inner(self, stage: str, i: int, n: int) -> None:
        """Progress inside the current item: ``i`` of ``n`` of ``stage`` (a callback for the model)."""
        if self.quiet:
            return
        if self.tty:
            from tqdm import tqdm

            if self._inner is None:
                self._inner = tqdm(total=n, desc=stage, file=self.stream, leave=False, dynamic_ncols=True)
            self._inner.total, self._inner.n = n, i
            self._inner.set_description(stage, refresh=False)
            self._inner.refresh()
            return
        now = time.monotonic()
        if self._item_t0 is None or i == 0:
            self._item_t0 = now
        if now - self._last >= self.every_s:
            self._last = now
            pct = f" ({100 * i / n:.0f} %)" if n else ""
            eta = ""
            if n and 0 < i < n:
                eta = f", ETA {_fmt_s((now - self._item_t0) / i * (n - i))}"
            print(f"uare {self.desc}: {stage} {i}/{n}{pct}, {_fmt_s(now - self.t0)}{eta}", file=self.stream, flush=True)

    def end_item(self) -> None:
        """Close the inner bar of the item just finished."""
        if self._inner is not None:
            self._inner.close()
            self._inner = None
        self._item_t0 = None

    # ------------------------------------------------------------------ messages
    def write(self, msg: str) -> None:
        """A message that must be seen even with ``quiet`` (a skipped file, a warning), bar kept intact."""
        if self.bar is not None:
            self.bar.write(msg, file=self.stream)
        else:
            print(msg, file=self.stream, flush=True)

    def info(self, msg: str) -> None:
        """A summary line (``restored 9, skipped 1``): shown unless ``quiet``."""
        if not self.quiet:
            self.write(msg)

    def close(self) -> None:
        self.end_item()
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
