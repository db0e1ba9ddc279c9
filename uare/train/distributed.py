"""Process groups and model wrapping: FSDP2 on CUDA, DDP over gloo on CPU, or a single process.

``torchrun`` sets ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` / ``MASTER_ADDR`` / ``MASTER_PORT`` (also across
nodes through its rendezvous); without them the run is a single process and nothing is initialised.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from uare.model.unified import UAREModel


@dataclass
class DistEnv:
    """Where this process sits: rank, world size, local rank, device and the wrapping strategy."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    strategy: str = "none"

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def init_distributed(strategy: str = "auto", timeout_s: int = 1800) -> DistEnv:
    """Join the process group torchrun describes (if any) and pick the device and strategy."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=timeout_s))
    if strategy == "auto":
        strategy = "none" if world == 1 else ("fsdp" if cuda else "ddp")
    if strategy == "fsdp" and not cuda:
        # FSDP2 is meant for GPUs here; on CPU the gloo DDP path is the tested one.
        strategy = "ddp" if world > 1 else "none"
    if world == 1 and strategy == "ddp":
        strategy = "none"
    return DistEnv(rank, world, local, device, strategy)


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def all_reduce_sum(env: DistEnv, values: list[float]) -> list[float]:
    """Sum a few numbers over all ranks (float64 on the CPU for gloo, on the device for NCCL)."""
    if not env.distributed:
        return list(values)
    dev = env.device if env.device.type == "cuda" else torch.device("cpu")
    t = torch.tensor(values, dtype=torch.float64, device=dev)
    dist.all_reduce(t)
    return t.cpu().tolist()


def cleanup(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.destroy_process_group()


class PackedForward(nn.Module):
    """``forward(batch, noise)`` = ``model.forward_packed``, so DDP / FSDP2 hooks run around it.

    Returns ``(mse_sum, ce_sum)``. A zero-weighted term on a trainable parameter (``anchor``)
    keeps every rank's graph connected to a trainable parameter even for a pack without any target.
    """

    def __init__(self, model: UAREModel, detach_und: bool, anchor: str = "llm2vae.bias"):
        super().__init__()
        self.model = model
        self.detach_und = detach_und
        self.anchor = anchor

    def forward(self, batch, noise: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model.forward_packed(batch, noise=noise, detach_und=self.detach_und)
        anchor = self.model.get_parameter(self.anchor).float().sum() * 0.0
        return out.mse_sum + anchor, out.ce_sum + anchor


def wrap(wrapper: PackedForward, env: DistEnv, bf16: bool) -> nn.Module:
    """Shard (FSDP2) or replicate (DDP) ``wrapper``; returns the module to call for the forward.

    FSDP2 (``fully_shard``): one unit per decoder layer and per ViT layer, then the root, with bf16
    compute and fp32 gradient reduction; master weights stay fp32 and sharded. Untested here (no GPU in
    this environment); the CPU tests run the DDP path.
    """
    if env.strategy == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16 if bf16 else torch.float32, reduce_dtype=torch.float32)
        m = wrapper.model
        for layer in m.language_model.model.layers:
            fully_shard(layer, mp_policy=mp)
        for layer in _vit_layers(m):
            fully_shard(layer, mp_policy=mp)
        fully_shard(wrapper, mp_policy=mp)
        return wrapper
    if env.strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        # find_unused_parameters: a pack may lack ViT images or text targets, leaving some trainable
        # parameters without a gradient on one rank.
        ids = [env.device.index] if env.device.type == "cuda" else None
        return DDP(wrapper, device_ids=ids, find_unused_parameters=True)
    return wrapper


def _vit_layers(model: UAREModel) -> list[nn.Module]:
    enc = getattr(model.vit_model, "encoder", None) or getattr(getattr(model.vit_model, "vision_model", None),
                                                              "encoder", None)
    layers = getattr(enc, "layers", None)
    return list(layers) if layers is not None else []


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """A DTensor's full value (a collective), or the tensor itself."""
    if hasattr(t, "full_tensor"):
        return t.full_tensor()
    return t
