"""The GPU path for packed training attention (one FlexAttention call with a block-sparse mask) gives the
CPU path's result (one SDPA per sample) within fp32 rounding, forward and backward."""

from __future__ import annotations

import warnings

import pytest
import torch

from uare.model.mot import SampleMasks, packed_attention, set_packed_attention


def _masks(sizes: list[int], g: torch.Generator) -> SampleMasks:
    bounds, masks, a = [], [], 0
    for n in sizes:
        causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
        img = slice(n // 3, 2 * n // 3)  # a full-attention image block inside a causal sample
        causal[img, img] = True
        extra = torch.rand(n, n, generator=g) > 0.7
        m = causal | (extra & torch.tril(torch.ones(n, n, dtype=torch.bool), diagonal=-1))
        bounds.append((a, a + n))
        masks.append(m)
        a += n
    return SampleMasks(bounds, masks)


@pytest.mark.parametrize("sizes", [[7], [5, 19, 12], [130, 3, 64]])
def test_flex_equals_per_sample_sdpa(sizes: list[int]) -> None:
    g = torch.Generator().manual_seed(len(sizes))
    n, heads, d = sum(sizes), 4, 16
    q, k, v = (torch.randn(1, heads, n, d, generator=g) for _ in range(3))
    masks = _masks(sizes, g)
    ref = packed_attention(q, k, v, masks, mode="loop")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "flex_attention called without torch.compile()": eager on the CPU
        out = packed_attention(q, k, v, masks, mode="flex")
    assert out.shape == ref.shape == (1, heads, n, d)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=2e-6)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="FlexAttention's backward needs CUDA")
def test_flex_gradients_equal_the_loop_on_cuda() -> None:
    g = torch.Generator().manual_seed(0)
    sizes, heads, d = [130, 3, 64], 4, 16
    n = sum(sizes)
    q, k, v = (torch.randn(1, heads, n, d, generator=g).cuda().requires_grad_() for _ in range(3))
    masks = _masks(sizes, g).to(torch.device("cuda"))
    go = torch.randn(1, heads, n, d, generator=g).cuda()
    ref = packed_attention(q, k, v, masks, mode="loop")
    out = packed_attention(q, k, v, masks, mode="flex")
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    for a, b in zip(torch.autograd.grad(out, (q, k, v), go), torch.autograd.grad(ref, (q, k, v), go), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_mode_switch_is_validated() -> None:
    with pytest.raises(ValueError, match="auto, loop or flex"):
        set_packed_attention("fast")
    set_packed_attention("auto")
