"""Every model preset, in timm's spirit: one packed training forward and backward (flow MSE + text CE
on an interleaved sample) reaches every trainable weight with a finite gradient. micro and tiny run in
the default suite; BAGEL-7B's shapes (two decoder layers, two ViT layers, every width real: ~1 B
parameters, ~8 GB with gradients, about a minute on 2 cores) are marked slow (`pytest -m slow`)."""

from __future__ import annotations

import pytest
import torch

from uare.model.config import bagel_7b, preset
from uare.model.image_transforms import vit_patchify
from uare.model.packing import TextItem, VAEItem, ViTItem, pack
from uare.model.tokenizer import train_quality_tokenizer
from uare.model.unified import UAREModel


@pytest.fixture(scope="module")
def tok():
    return train_quality_tokenizer(vocab_size=600, n_samples=1500, seed=0)


def _batch(cfg, tok):
    g = torch.Generator().manual_seed(0)
    p = cfg.vit.patch_size
    patches, grid = vit_patchify(torch.rand(3, 3 * p, 4 * p, generator=g) * 2 - 1, p)
    latent = torch.randn(cfg.vae.z_channels, 8, 6, generator=g)
    plan = [VAEItem(latent), ViTItem(patches, grid), TextItem(tok.encode("Assess, then restore.")),
            TextItem(tok.encode("The image is poor: strong noise."), loss=True), VAEItem(latent, noisy=True, t=0.5)]
    return pack([plan], tok.special, cfg.vit_max_num_patch_per_side, cfg.max_latent_size)


def _two_layer_bagel(vocab: int):
    cfg = bagel_7b(vocab_size=vocab)
    cfg.llm.num_hidden_layers = 2
    cfg.vit.num_hidden_layers = 2
    return cfg


@pytest.mark.parametrize("name", ["micro", "tiny", pytest.param("bagel-7b, 2 layers", marks=pytest.mark.slow)])
def test_forward_backward_reaches_every_weight(name: str, tok) -> None:
    big = name.startswith("bagel")
    cfg = _two_layer_bagel(tok.vocab_size) if big else preset(name, vocab_size=tok.vocab_size)
    torch.manual_seed(0)
    model = UAREModel(cfg).train()
    torch.nn.init.normal_(model.llm2vae.weight, std=0.05)
    batch = _batch(cfg, tok)
    noise = torch.randn(batch.latent_x0.shape, generator=torch.Generator().manual_seed(1))
    out = model.forward_packed(batch, noise=noise.to(model.device))
    loss = out.mse + 0.25 * out.ce
    loss.backward()
    assert loss.shape == () and out.mse.shape == () and out.ce.shape == ()
    # the VAE is not part of the packed forward (latents come pre-encoded), and vit_pos_embed is a table
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    missing = [n for n, p in params if p.grad is None and not n.startswith("vit_model.vision_model.post_layernorm")]
    assert not missing, missing[:10]
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for _, p in params if p.grad is not None)
    n = sum(p.numel() for p in model.parameters())
    assert (n > 0.9e9) if big else (n < 20e6)  # the bagel case has BAGEL's real widths
