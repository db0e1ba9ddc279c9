"""Sharded training data: packing, the manifest, streaming coverage across reader slots, damaged shards,
exact resume (in-process and after kill -9 of a 2-node x 2-process torchrun job), and the CLI."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from uare.cli import main
from uare.data import DataConfig, Geometry, PackDataset, SourceConfig
from uare.data.images import DataError
from uare.data.shards import (
    Cursor,
    ShardStream,
    check_manifest,
    decode_image,
    open_shards,
    pack_folder,
    unit_records,
)

REPO = Path(__file__).resolve().parents[1]
N_IMAGES = 24


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("shard_imgs")
    rng = np.random.default_rng(0)
    for i in range(N_IMAGES):
        # smooth random colour images of varied sizes (a few JPEGs among the PNGs)
        small = rng.integers(0, 256, (6, 6, 3)).astype(np.uint8)
        im = Image.fromarray(small).resize((48 + i % 5 * 8, 40 + i % 3 * 8), Image.BICUBIC)
        im.save(d / (f"{i:02d}.jpg" if i % 6 == 5 else f"{i:02d}.png"), quality=95)
    (d / "notes.txt").write_text("not an image")
    return d


@pytest.fixture(scope="module")
def tar_shards(images, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tar") / "shards"
    pack_folder(images, out, shard_size=3, layout="tar", log=lambda m: None)
    return out


def _read_epoch(stream: ShardStream) -> list[str]:
    keys = []
    while True:
        rec, _ = stream.peek()
        if stream.cursor.epoch:
            return keys
        keys.append(rec.key)
        stream.advance()


# ------------------------------------------------------------------------------------------ packing
@pytest.mark.parametrize("layout, encoding", [("tar", "keep"), ("parquet", "keep"), ("tar", "raw")])
def test_pack_round_trips_every_image_with_a_manifest(images, tmp_path, layout, encoding):
    if layout == "parquet":
        pytest.importorskip("pyarrow")
    res = pack_folder(images, tmp_path / "s", shard_size=5, layout=layout, encoding=encoding, log=lambda m: None)
    assert (res.shards, res.samples) == (5, N_IMAGES)  # 24 images in shards of 5
    m = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert m["layout"] == layout and m["samples"] == N_IMAGES and sum(s["samples"] for s in m["shards"]) == N_IMAGES
    assert check_manifest(tmp_path / "s", hashes=True) == []
    files = sorted(p for p in images.iterdir() if p.suffix != ".txt")
    seen = {}
    for unit in open_shards([tmp_path / "s"]).units:
        for rec in unit_records(unit):
            seen[rec.key] = decode_image(rec.data)
    assert len(seen) == N_IMAGES
    for i, f in enumerate(files):  # the key is the file's index in name order; pixels as the file decodes
        ref = np.asarray(Image.open(f).convert("RGB"))
        got = seen[f"{i:02d}"]
        assert got.shape == ref.shape
        # a JPEG kept as it is decodes through OpenCV's libjpeg when training (within 2 levels of Pillow's)
        assert np.abs(got.astype(int) - ref).max() <= (2 if f.suffix == ".jpg" and encoding == "keep" else 0)
    if layout == "parquet":  # BAGEL's two tables, and the dataset_info entry read back
        info = json.loads((tmp_path / "s" / "parquet_info.json").read_text())
        assert sum(v["num_row_groups"] for v in info.values()) == len(open_shards([tmp_path / "s"]))
        ss = open_shards([tmp_path / "s" / "dataset_info.json"])
        assert ss.samples == N_IMAGES


def test_pack_refuses_to_overwrite_and_leaves_nothing_on_failure(images, tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        pack_folder(images, out, shard_size=4)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images"):
        pack_folder(empty, tmp_path / "s2")
    assert not (tmp_path / "s2").exists() and not list(tmp_path.glob(".s2*"))


def test_a_shard_list_that_differs_from_its_manifest_is_refused_at_start(tar_shards, tmp_path):
    import shutil

    d = tmp_path / "s"
    shutil.copytree(tar_shards, d)
    (d / "shard-000003.tar").unlink()
    with pytest.raises(DataError, match=r"shard list does not match manifest.json: shard-000003.tar is missing"):
        open_shards([d])
    shutil.copy(tar_shards / "shard-000003.tar", d / "shard-000003.tar")
    shutil.copy(tar_shards / "shard-000000.tar", d / "shard-000099.tar")
    with pytest.raises(DataError, match="shard-000099.tar is not in the manifest"):
        open_shards([d])


# ------------------------------------------------------------------------------------------ streaming
@pytest.mark.parametrize("layout", ["tar", "parquet"])
def test_every_record_once_per_epoch_across_reader_slots(images, tmp_path, layout):
    if layout == "parquet":
        pytest.importorskip("pyarrow")
    pack_folder(images, tmp_path / "s", shard_size=4, layout=layout, row_group=2, log=lambda m: None)
    ss = open_shards([tmp_path / "s"])
    for epoch_seed in (0, 1):
        per_slot = [_read_epoch(ShardStream(ss, epoch_seed, g, 3)) for g in range(3)]
        flat = [k for keys in per_slot for k in keys]
        assert sorted(flat) == sorted(f"{i:02d}" for i in range(N_IMAGES))  # full coverage, disjoint
    # epochs differ in order, a seed gives the same order
    a, b = ShardStream(ss, 0, 0, 1), ShardStream(ss, 0, 0, 1)
    e0 = _read_epoch(a)
    assert e0 == _read_epoch(b)
    assert _read_epoch(ShardStream(ss, 0, 0, 1, Cursor(1, 0, 0))) != e0


def test_a_stream_resumes_from_its_cursor(tar_shards):
    ss = open_shards([tar_shards])
    a = ShardStream(ss, 5, 1, 2)
    keys = []
    for _ in range(30):
        keys.append(a.peek()[0].key)
        a.advance()
    b = ShardStream(ss, 5, 1, 2)
    for _ in range(11):
        b.advance()
    c = ShardStream(ss, 5, 1, 2, Cursor.from_list(b.cursor.to_list()))
    rest = []
    for _ in range(19):
        rest.append(c.peek()[0].key)
        c.advance()
    assert rest == keys[11:]


def _damage(tar_shards: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A copy with a truncated shard and an undecodable image in another (the manifest's list unchanged)."""
    import shutil

    d = tmp_path / "damaged"
    shutil.copytree(tar_shards, d)
    t = d / "shard-000002.tar"
    t.write_bytes(t.read_bytes()[:1500])  # cut inside its first member's data
    bad = d / "shard-000005.tar"
    members = []
    with tarfile.open(bad) as tf:
        for m in tf:
            members.append((m.name, tf.extractfile(m).read()))
    members[1] = (members[1][0], b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    with tarfile.open(bad, "w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return d, [members[1][0].split(".")[0]]


def test_damaged_shards_are_skipped_with_one_line_each_and_counted(tar_shards, tmp_path):
    d, bad_keys = _damage(tar_shards, tmp_path)
    lines: list[str] = []
    st = ShardStream(open_shards([d]), 0, 0, 1, log=lines.append)
    keys = _read_epoch(st)
    assert st.skipped == 2 and len(lines) == 2
    assert any("shard shard-000002.tar: damaged after record 0" in x and "rest of the shard skipped" in x
               for x in lines)
    assert any(f"shard shard-000005.tar key {bad_keys[0]}:" in x and "skipped" in x for x in lines)
    assert len(keys) == N_IMAGES - 3 - 1 and bad_keys[0] not in keys  # a 3-record shard and one image lost
    assert check_manifest(d, hashes=True)  # `uare data check` sees both


def test_a_bad_parquet_row_is_skipped(images, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    d = tmp_path / "bagel"
    d.mkdir()
    good = [(tmp_path / "x.png")]
    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(good[0])
    data = good[0].read_bytes()
    # a BAGEL data_dir: parquet files with an image column, no key, no manifest; row 1 is not an image, row 3 null
    for n in range(2):
        pq.write_table(pa.table({"image": pa.array([data, b"nope", data, None], pa.binary())}), d / f"{n}.parquet",
                       row_group_size=2)
    lines: list[str] = []
    st = ShardStream(open_shards([d]), 0, 0, 1, log=lines.append)
    keys = _read_epoch(st)
    assert len(keys) == 4 and st.skipped == 4 and len(lines) == 4
    assert sorted(keys) == ["0-rg0-0", "0-rg1-2", "1-rg0-0", "1-rg1-2"]  # file, row group, row
    assert sorted(x.split(":")[0] for x in lines) == [
        "shard 0.parquet#rg0 key 0-rg0-1", "shard 0.parquet#rg1 key 0-rg1-3",
        "shard 1.parquet#rg0 key 1-rg0-1", "shard 1.parquet#rg1 key 1-rg1-3"]


# ------------------------------------------------------------------------------------------ packs + resume
@pytest.fixture(scope="module")
def tok():
    from uare.model.tokenizer import train_quality_tokenizer

    return train_quality_tokenizer(vocab_size=600, n_samples=1500, seed=0)


def _data_cfg(shards: Path, workers: int = 0) -> DataConfig:
    src = [SourceConfig(kind="restoration", shards=[str(shards)], crop=[32, 32], degradation="mix"),
           SourceConfig(kind="iqa", shards=[str(shards)], crop=[32, 32], weight=0.5)]
    return DataConfig(sources=src, tokens_per_pack=500, vit_max_size=56, vit_min_size=28, num_workers=workers)


def _records(pack) -> list[tuple]:
    return [(s.meta["source"], *s.meta["record"]) for s in pack.samples]


def test_packs_use_every_record_once_and_resume_exactly(tar_shards, tok):
    geo = Geometry(latent_stride=16, max_latent_side=8, vit_patch=14, vit_max_side=4)
    cfg = _data_cfg(tar_shards, workers=2)  # two reader slots: packs 0, 2, 4 .. and 1, 3, 5 ..
    ds = PackDataset(cfg, geo, tok, seed=0, rank=0, world=1)
    packs = [ds[p] for p in range(16)]
    used = [r for p in packs for r in _records(p)]
    assert any(p.tokens and len(p.samples) < cfg.max_samples_per_pack for p in packs)
    for k in (0, 1):  # per source: no record twice within an epoch, and epoch 0 read whole before epoch 1
        recs = [(e, key) for s, e, _, key in used if s == k]
        assert len(recs) == len(set(recs))
    full = [key for s, e, _, key in used if s == 0 and e == 0]
    assert len(full) == len(set(full))
    # resume at pack 10 from the cursors the packs carried: the same records as without a restart
    cursors = {packs[8].slot: packs[8].cursors, packs[9].slot: packs[9].cursors}
    ds2 = PackDataset(cfg, geo, tok, seed=0, rank=0, world=1)
    ds2.set_cursors(cursors)
    assert [_records(ds2[p]) for p in range(10, 16)] == [_records(p) for p in packs[10:]]


def test_too_few_shards_for_the_readers_is_refused_at_start(tar_shards, tok):
    geo = Geometry(latent_stride=16, max_latent_side=8, vit_patch=14, vit_max_side=4)
    with pytest.raises(DataError, match=r"8 shard units for 3 rank\(s\) x 4 data worker\(s\)"):
        PackDataset(_data_cfg(tar_shards, workers=4), geo, tok, seed=0, rank=0, world=3)


# ------------------------------------------------------------------------------------------ CLI
def test_cli_pack_and_check(images, tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["data", "pack", str(images), str(out), "--shard-size", "10"]) == 0
    cap = capsys.readouterr()
    assert "24 images in 3 tar shards" in cap.out and "notes.txt" not in cap.err  # not an image name: not read
    assert main(["data", "check", str(out)]) == 0
    assert "3 shards, 24 samples: match the manifest" in capsys.readouterr().out
    (out / "shard-000001.tar").write_bytes(b"x")
    assert main(["data", "check", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "shard-000001.tar has 1 bytes" in err[0]


@pytest.mark.parametrize("argv, msg", [
    (["data", "pack", "/nonexistent/x", "OUT", "--shard-size", "4"], "folder not found"),
    (["data", "pack", "IMAGES", "OUT", "--shard-size", "0"], "--shard-size"),
    (["data", "pack", "IMAGES", "OUT", "--layout", "zip"], "invalid choice"),
    (["data", "check", "/nonexistent/x"], "manifest"),
])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(images, tmp_path, capsys, argv, msg):
    argv = [str(images) if a == "IMAGES" else str(tmp_path / "o") if a == "OUT" else a for a in argv]
    with pytest.raises(SystemExit) as e:
        sys.exit(main(argv))
    assert e.value.code == 2
    err = [x for x in capsys.readouterr().err.strip().splitlines() if x.startswith("uare")]
    assert len(err) == 1 and msg in err[0]
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------------ 2 nodes x 2 ranks
_RANK_SCRIPT = r"""
import json, os, sys
from uare.train.config import load_config
from uare.train.trainer import Trainer

step_fn = Trainer._step


def logged(self, step, packs):  # what each rank trained on, step by step
    rec = {"step": step + 1, "rank": self.env.rank,
           "records": [[s.meta["source"], *s.meta["record"]] for p in packs for s in p.samples]}
    res = step_fn(self, step, packs)
    rec["loss"] = res["loss"]
    with open(os.path.join(sys.argv[3], f"{sys.argv[2]}-rank{self.env.rank}.jsonl"), "a") as f:
        f.write(json.dumps(rec) + "\n")
    if sys.argv[2] == "killed" and step + 1 == 7:  # hold here, past the step-4 checkpoint, until killed
        import time
        time.sleep(3600)
    return res


if __name__ == "__main__":  # the data workers (forkserver) import this file again
    cfg = load_config(sys.argv[1])
    Trainer._step = logged
    Trainer(cfg, resume=cfg.out if sys.argv[2] == "resumed" else None).run()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(script: Path, cfg: Path, tag: str, tmp: Path, port: int, env: dict) -> list[subprocess.Popen]:
    """Two torchrun 'nodes' of two processes each, rendezvous'd on localhost (c10d, gloo)."""
    procs = []
    for node in (0, 1):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "2",
               "--node_rank", str(node), "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}",
               "--rdzv_id", f"{tag}-{port}", "--max_restarts", "0", str(script), str(cfg), tag, str(tmp)]
        procs.append(subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      start_new_session=True))
    return procs


def _kill_9(tag: str) -> None:
    """SIGKILL every live process whose environment holds UARE_TEST_TAG=tag (torchrun puts its ranks in
    sessions of their own, so a process group does not reach them)."""
    for _ in range(50):
        pids = []
        for d in Path("/proc").iterdir():
            try:
                if d.name.isdigit() and f"UARE_TEST_TAG={tag}".encode() in (d / "environ").read_bytes().split(b"\0") \
                        and (d / "stat").read_text().split(")")[-1].split()[0] != "Z":
                    pids.append(int(d.name))
            except OSError:
                continue
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _rows(tmp: Path, tag: str) -> dict[tuple[int, int], dict]:
    rows = {}
    for r in range(4):
        f = tmp / f"{tag}-rank{r}.jsonl"
        for line in f.read_text().splitlines() if f.is_file() else []:
            d = json.loads(line)
            rows[(d["rank"], d["step"])] = d
    return rows


def test_two_nodes_disjoint_full_coverage_and_exact_resume_after_kill_9(tar_shards, tmp_path):
    """torchrun --nnodes 2 --nproc_per_node 2 on localhost: 4 ranks x 2 data workers = 8 reader slots over the
    8 tar shards. Epoch 0 of every source is read disjointly and completely across the ranks; the job is
    killed (SIGKILL to every process) at step 7, after its step-4 checkpoint, resumed, and steps 5.. train on the
    records, and reach the losses, of the steps the killed run had already trained."""
    import yaml

    from uare.model.config import micro
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer

    tok = train_quality_tokenizer(vocab_size=600, n_samples=1500, seed=0)
    init_random(tmp_path / "model", micro(vocab_size=tok.vocab_size), fmt="uare", seed=0, tokenizer=tok)
    out = tmp_path / "run"
    d = {"stage": 1, "seed": 0, "out": str(out), "init": {"path": str(tmp_path / "model")},
         "data": {"sources": [{"kind": "restoration", "shards": [str(tar_shards)], "crop": [32, 32],
                               "degradation": "mix"}],
                  "tokens_per_pack": 400, "vit_max_size": 56, "vit_min_size": 28, "num_workers": 2},
         "optim": {"lr": 3e-3, "warmup_steps": 2},
         "train": {"max_steps": 12, "ema_decay": 0.9, "threads": 1},
         "checkpoint": {"every": 4, "keep": 3}, "log": {"every": 1, "progress": False}}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(d))
    script = tmp_path / "rank.py"
    script.write_text(_RANK_SCRIPT)
    tag = f"uare-2node-{os.getpid()}-{time.time_ns()}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "UARE_TEST_TAG": tag}

    procs = _launch(script, cfg, "killed", tmp_path, _free_port(), env)
    deadline = time.time() + 120
    while time.time() < deadline and not (all((r, 7) in _rows(tmp_path, "killed") for r in range(4))
                                          and (out / "checkpoints" / "step_00000004").is_dir()):
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.1)
    _kill_9(tag)  # every process of both "nodes": agents, ranks, data workers
    logs = [p.communicate()[0].decode(errors="replace")[-1500:] for p in procs]
    killed = _rows(tmp_path, "killed")
    assert all((r, 7) in killed for r in range(4)), logs
    assert (out / "checkpoints" / "step_00000004").is_dir()

    procs = _launch(script, cfg, "resumed", tmp_path, _free_port(), env)
    try:
        logs = [p.communicate(timeout=180)[0].decode(errors="replace")[-1500:] for p in procs]
    finally:
        _kill_9(tag)
    assert all(p.returncode == 0 for p in procs), logs
    resumed = _rows(tmp_path, "resumed")
    assert min(s for _, s in resumed) == 5 and max(s for _, s in resumed) == 12
    for key, row in resumed.items():  # exact resume: the killed run's steps 5.. again, record for record
        if key in killed:
            assert row["records"] == killed[key]["records"] and row["loss"] == killed[key]["loss"]
    # coverage: steps 1-4 of the killed run and 5-12 of the resumed one, all ranks together
    rows = [v for (r, s), v in killed.items() if s <= 4] + list(resumed.values())
    epoch0 = [rec[3] for v in rows for rec in v["records"] if rec[1] == 0]
    assert len(epoch0) == len(set(epoch0))  # disjoint across ranks and workers
    slots_done = {(v["rank"]) for v in rows for rec in v["records"] if rec[1] >= 1}
    assert slots_done == {0, 1, 2, 3}  # every rank went past epoch 0 ...
    assert sorted(epoch0) == sorted(f"{i:02d}" for i in range(N_IMAGES))  # ... and epoch 0 was read whole
