"""Fuzz every reader of user files: hostile images through reading, every degradation, assess and restore.

    python benchmarks/fuzz.py --n 2000 --seed 0 [--model DIR] [--cli 40] [--out results/fuzz]

Cases come from :func:`uare.io.fuzz.cases` (valid images of random sizes, modes and formats, and
mutated copies: byte flips, truncations, repeated / cut spans, hostile sizes, PNG header fields).
Each case runs in a child process (address space limited to ``--mem-mb``; a segfault or an abort is a
crash, not the end of the run) under a wall-clock limit (``--timeout`` s, SIGALRM): ``read_image``,
then for a readable image every degradation type, ``assess`` and (small images) ``restore``. An
outcome is ``ok``, ``refused`` (an ImageReadError / UareError / ValueError with a one-line message),
``crash`` (any other exception, or the child died), ``hang`` (over the limit), ``blowup`` (MemoryError
under the address-space limit) or ``multiline`` (a refusal message of several lines). Counts are also
given per stage (where a case ended: read, degrade TYPE, assess, restore, done) and per case kind. ``--cli N`` also runs N cases through ``uare assess`` in a subprocess with a memory
limit and checks exit code 0 or 2 with one ``uare: error:`` line. Writes summary.json / summary.md.
Target: 0 crash, 0 hang, 0 blowup, 0 multiline.
"""

from __future__ import annotations

import argparse
import collections
import json
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


class _Timeout(Exception):
    pass


def _alarm(*_):
    raise _Timeout()


def run_case(path: Path, model, timeout: float, types: tuple[str, ...]) -> tuple[str, str]:
    """(outcome, detail) of one file through every stage."""
    from uare.degrade import degrade
    from uare.errors import UareError
    from uare.io import read_image

    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    stage = "read"
    try:
        img = read_image(path).pixels
        for t in types:
            stage = f"degrade {t}"
            degrade(img, "single", types=[t], severity=3, seed=0)
        if model is not None:
            stage = "assess"
            model.assess(path, describe=False)
            if img.shape[0] * img.shape[1] <= 96 * 96:
                stage = "restore"
                model.restore(path, assess=False, seed=0)
        return "ok", ""
    except _Timeout:
        return "hang", stage
    except MemoryError:
        return "blowup", f"{stage}: MemoryError"
    except (UareError, ValueError) as e:
        msg = str(e)
        return ("multiline" if "\n" in msg.strip() else "refused"), f"{stage}: {msg[:160]}"
    except Exception as e:  # noqa: BLE001 - this is what the harness looks for
        return "crash", f"{stage}: {type(e).__name__}: {str(e)[:160]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def run_cli(path: Path, mem_mb: int, timeout: float) -> tuple[str, str]:
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (mem_mb * 2**20, mem_mb * 2**20))

    try:
        p = subprocess.run([sys.executable, "-m", "uare", "assess", str(path), "--no-describe"], capture_output=True,
                           text=True, timeout=timeout, preexec_fn=limit)
    except subprocess.TimeoutExpired:
        return "hang", "cli"
    err = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
    if p.returncode == 0:
        return "ok", ""
    if p.returncode == 2 and len(err) == 1 and err[0].startswith("uare: error:"):
        return "refused", err[0][:160]
    return "crash", f"cli rc {p.returncode}: {' | '.join(err[-3:])[:300]}"


_MODEL = None


def _worker_init(model_dir: str | None, with_model: bool, mem_mb: int) -> None:
    global _MODEL
    resource.setrlimit(resource.RLIMIT_AS, (mem_mb * 2**20, mem_mb * 2**20))
    import torch

    torch.set_num_threads(1)
    if with_model:
        from uare.infer import UARE

        _MODEL = UARE.from_pretrained(model_dir)


def _worker_case(path: str, timeout: float, types: tuple[str, ...]) -> tuple[str, str]:
    return run_case(Path(path), _MODEL, timeout, types)


class _Isolated:
    """Cases run in a child process (address space limited): a segfault or an abort is a ``crash``, a case
    that does not return within twice its limit (stuck in C code, deaf to SIGALRM) a ``hang``; the child is
    then replaced."""

    def __init__(self, model_dir: str | None, with_model: bool, mem_mb: int):
        self.args = (model_dir, with_model, mem_mb)
        self.pool = None

    def _start(self):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                        initargs=self.args)

    def run(self, path: Path, timeout: float, types: tuple[str, ...]) -> tuple[str, str]:
        from concurrent.futures import TimeoutError as FutureTimeout
        from concurrent.futures.process import BrokenProcessPool

        if self.pool is None:
            self._start()
        fut = self.pool.submit(_worker_case, str(path), timeout, types)
        try:
            return fut.result(timeout=2 * timeout + 60)
        except BrokenProcessPool:
            self.close()
            return "crash", "child: the process died (segfault, abort or out of memory)"
        except FutureTimeout:
            self.close()
            return "hang", "child: no answer, even to SIGALRM"

    def close(self):
        if self.pool is not None:
            for p in list(getattr(self.pool, "_processes", {}).values()):
                p.kill()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None


def fuzz(n: int, seed: int, model_dir: str | None, with_model: bool, timeout: float, cli: int, mem_mb: int,
         log=print) -> dict:
    from uare.degrade import SINGLE_TYPES
    from uare.io.fuzz import cases, fixed_cases

    runner = _Isolated(model_dir, with_model, mem_mb)
    counts: collections.Counter = collections.Counter()
    by_stage: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    problems = []
    examples: dict[str, list[str]] = collections.defaultdict(list)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="uare-fuzz-") as d:
        for name, fmt, data in fixed_cases():  # always through the library and the CLI
            p = Path(d) / name
            p.write_bytes(data)
            for outcome, detail in (runner.run(p, timeout, ("noise",)), run_cli(p, mem_mb, 60.0)):
                counts[f"fixed_{outcome}"] += 1
                if outcome not in ("ok", "refused"):
                    problems.append({"case": name, "format": fmt, "outcome": outcome, "detail": detail})
        for i, (name, fmt, data) in enumerate(cases(n, seed)):
            p = Path(d) / name
            p.write_bytes(data)
            types = tuple(str(t) for t in rng.choice(SINGLE_TYPES, 3, replace=False))
            outcome, detail = runner.run(p, timeout, types)
            if i < cli:
                c_out, c_detail = run_cli(p, mem_mb, 60.0)
                counts[f"cli_{c_out}"] += 1
                if c_out not in ("ok", "refused"):
                    problems.append({"case": name, "format": fmt, "outcome": f"cli_{c_out}", "detail": c_detail})
            counts[outcome] += 1
            by_stage["done" if outcome == "ok" else detail.split(":")[0].split(" ")[0]][outcome] += 1
            by_kind[name.split("_", 1)[1].split(".")[0]][outcome] += 1
            by_kind[f"format {fmt}"][outcome] += 1
            if outcome == "refused" and len(examples[detail.split(":")[0]]) < 3:
                examples[detail.split(":")[0]].append(f"{name}: {detail.split(': ', 2)[-1][:120]}")
            if outcome not in ("ok", "refused"):
                problems.append({"case": name, "format": fmt, "outcome": outcome, "detail": detail})
            p.unlink()
            if (i + 1) % 250 == 0:
                log(f"fuzz: {i + 1}/{n} {dict(counts)}")
    runner.close()
    return {"n": n, "seed": seed, "counts": dict(counts), "problems": problems,
            "by_stage": {k: dict(v) for k, v in sorted(by_stage.items())},
            "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
            "refusal_examples": dict(sorted(examples.items())),
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None, help="model folder (default: the shipped uare-tiny)")
    ap.add_argument("--no-model", action="store_true", help="reading and degradations only")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per case")
    ap.add_argument("--cli", type=int, default=40, help="cases also run through `uare assess` in a subprocess")
    ap.add_argument("--mem-mb", type=int, default=6144, help="address-space limit of the child processes")
    ap.add_argument("--out", type=Path, default=Path("results/fuzz"))
    a = ap.parse_args()
    r = fuzz(a.n, a.seed, a.model, not a.no_model, a.timeout, a.cli, a.mem_mb,
             log=lambda s: print(s, file=sys.stderr, flush=True))
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "summary.json").write_text(json.dumps(r, indent=2))
    md = (f"fuzz: {r['n']} cases (seed {r['seed']}), {r['seconds']} s: "
          + ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items())) + "\n")
    outs = ("ok", "refused", "crash", "hang", "blowup", "multiline")
    for title, key in (("stage where the case ended", "by_stage"), ("case kind / format", "by_kind")):
        md += f"\n| {title} | " + " | ".join(outs) + " |\n|---|" + "---|" * len(outs) + "\n"
        for k, v in r[key].items():
            md += f"| {k} | " + " | ".join(str(v.get(o, 0)) for o in outs) + " |\n"
    md += "\nExamples of refusals (file: message after the path):\n"
    for stage, ex in r["refusal_examples"].items():
        md += "".join(f"- {stage}: {e}\n" for e in ex)
    md += "\n"
    for p in r["problems"][:40]:
        md += f"- {p['case']} ({p['format']}): {p['outcome']} - {p['detail']}\n"
    (a.out / "summary.md").write_text(md)
    print(md)
    return 0 if not r["problems"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
