"""The unified MoT model: routing, masks, KV cache, guidance, flow, overfitting, special tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from uare.model.config import micro
from uare.model.flow import (
    euler_sample,
    guide,
    sample_train_timesteps,
    sampling_schedule,
    shift_timesteps,
)
from uare.model.image_transforms import latent_patchify, vit_patchify
from uare.model.packing import TextItem, VAEItem, ViTItem, pack, split_mask
from uare.model.sampler import FlowSampler
from uare.model.tokenizer import train_quality_tokenizer
from uare.model.unified import Context, UAREModel


@pytest.fixture(scope="module")
def tok():
    return train_quality_tokenizer(vocab_size=600, n_samples=1500, seed=0)


@pytest.fixture(scope="module")
def model(tok):
    torch.manual_seed(0)
    m = UAREModel(micro(vocab_size=tok.vocab_size)).eval()
    # a random, non-zero velocity head so gen outputs are informative
    torch.nn.init.normal_(m.llm2vae.weight, std=0.05)
    return m


def _image(seed: int) -> tuple[torch.Tensor, tuple[int, int], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    patches, grid = vit_patchify(torch.rand(3, 42, 56, generator=g) * 2 - 1, 14)
    latent = torch.randn(16, 8, 6, generator=g)
    return patches, grid, latent


def _pack(model, tok, plan):
    c = model.config
    return pack([plan], tok.special, c.vit_max_num_patch_per_side, c.max_latent_size)


def _context(model, tok, prompt="Restore this photo.", seed=0):
    sp = tok.special
    patches, grid, latent = _image(seed)
    ctx = model.prefill_vae(Context(), latent_patchify(latent), (4, 3), sp)
    ctx = model.prefill_vit(ctx, patches, grid, sp)
    return model.prefill_text(ctx, tok.encode(prompt), sp), (patches, grid, latent)


# ---------------------------------------------------------------- masks and positions
def test_split_mask_rules():
    m = split_mask([(3, "causal"), (2, "full"), (2, "noise"), (2, "causal")])
    # causal text: lower triangle
    assert m[:3, :3].equal(torch.ones(3, 3, dtype=torch.bool).tril())
    # full split sees earlier splits and itself
    assert m[3:5, :5].all()
    # noise split sees everything before and itself
    assert m[5:7, :7].all()
    # later text never sees the noisy keys, but sees everything else earlier
    assert not m[7:9, 5:7].any() and m[7:9, :5].all()
    # nothing sees the future
    assert not m[:3, 3:].any()


def test_pack_positions_follow_bagel_rules(model, tok):
    sp = tok.special
    patches, grid, latent = _image(0)
    plan = [TextItem([5, 6]), VAEItem(latent), ViTItem(patches, grid), TextItem([7], loss=True),
            VAEItem(latent, noisy=True, t=0.5), TextItem([8])]
    b = _pack(model, tok, plan)
    pos = b.positions.tolist()
    n_lat, n_vit = 12, grid[0] * grid[1]
    # text 0..3, clean VAE block all at 4, ViT block all at 5, text 6..8, noisy block at 9 (no advance), text 9..
    expect = [0, 1, 2, 3] + [4] * (n_lat + 2) + [5] * (n_vit + 2) + [6, 7, 8] + [9] * (n_lat + 2) + [9, 10, 11]
    assert pos == expect
    ids = b.input_ids.tolist()
    assert ids[4] == sp.start_of_image and ids[4 + n_lat + 1] == sp.end_of_image
    assert ids[0] == sp.bos and ids[3] == sp.eos
    # gen rows are exactly the latent rows; the bracketing specials are und
    assert b.gen.sum() == 2 * n_lat and not b.gen[4] and b.gen[5]
    # CE: predict [7, eos] from rows of bos and 7
    assert b.ce_labels.tolist() == [7, sp.eos]


# ---------------------------------------------------------------- routing
def test_gen_weights_do_not_touch_text_logits(model, tok):
    sp = tok.special
    ids = tok.encode("The quality of the image is")
    before = model.next_token_logits(Context(), ids, sp)
    m2 = UAREModel(model.config).eval()
    m2.load_state_dict(model.state_dict())
    with torch.no_grad():
        for name, p in m2.named_parameters():
            if "_moe_gen" in name or name.startswith(("llm2vae", "vae2llm", "time_embedder", "latent_pos")):
                p.add_(torch.randn_like(p))
    after = m2.next_token_logits(Context(), ids, sp)
    assert torch.equal(before, after)


def test_und_weights_reach_the_velocity_only_through_attention(model, tok):
    sp = tok.special
    ctx, (_, _, latent) = _context(model, tok)
    x = torch.randn(12, 64, generator=torch.Generator().manual_seed(1))
    v0 = model.velocity(ctx, x, 0.6, (4, 3), sp)
    last = len(model.language_model.model.layers) - 1

    def perturbed(names):
        m2 = UAREModel(model.config).eval()
        m2.load_state_dict(model.state_dict())
        with torch.no_grad():
            for name, p in m2.named_parameters():
                if name.startswith("language_model.") and any(n in name for n in names) and "_moe_gen" not in name:
                    p.add_(torch.randn_like(p) * 0.5)
        c2, _ = _context(m2, tok)
        return m2.velocity(c2, x, 0.6, (4, 3), sp)

    # und parts of the last layer that act after its attention cannot reach gen rows any more
    after_attn = [f"layers.{last}.mlp.", f"layers.{last}.post_attention_layernorm", f"layers.{last}.self_attn.o_proj",
                  "model.norm.", "lm_head"]
    assert torch.equal(perturbed(after_attn), v0)
    # und weights of an earlier layer reach them through the shared attention
    assert not torch.allclose(perturbed(["layers.0.mlp."]), v0)


# ---------------------------------------------------------------- noise mask / cache
def test_text_after_a_noisy_image_ignores_the_noisy_latents(model, tok):
    patches, grid, latent = _image(0)
    outs = []
    for seed in (1, 2):
        g = torch.Generator().manual_seed(seed)
        plan = [TextItem(tok.encode("Restore this.")), ViTItem(patches, grid),
                VAEItem(torch.randn(16, 8, 6, generator=g), noisy=True, t=0.3),
                TextItem(tok.encode("It is now good."), loss=True)]
        b = _pack(model, tok, plan)
        noise = torch.randn(b.latent_x0.shape, generator=g)
        outs.append(model.forward_packed(b, noise=noise).ce.item())
    assert outs[0] == outs[1]


def test_kv_cache_decoding_equals_full_recomputation(model, tok):
    sp = tok.special
    ctx, (patches, grid, latent) = _context(model, tok)
    gen = model.generate_text(ctx, sp, max_new_tokens=12)
    ids = gen.ids
    assert len(ids) > 0
    # recompute everything at once with the packed (training) path; same segment order and positions
    plan = [VAEItem(latent), ViTItem(patches, grid), TextItem(tok.encode("Restore this photo.")),
            TextItem(ids, loss=True)]
    b = _pack(model, tok, plan)
    with torch.no_grad():
        out = model.forward_packed(b, return_logits=True)
    # greedy decoding must pick the argmax of the full-recomputation logits at every step
    full = out.logits[: len(ids)]
    assert full.argmax(-1).tolist() == ids
    # and the cached logits equal the recomputed ones
    step_logits = torch.stack([model.next_token_logits(ctx, ids[:k], sp) for k in range(len(ids))])
    assert (step_logits - full).abs().max() < 1e-5


def test_cached_velocity_equals_packed_velocity(model, tok):
    sp = tok.special
    ctx, (patches, grid, latent) = _context(model, tok)
    g = torch.Generator().manual_seed(3)
    target = torch.randn(16, 8, 6, generator=g)
    t = 0.4
    plan = [VAEItem(latent), ViTItem(patches, grid), TextItem(tok.encode("Restore this photo.")),
            VAEItem(target, noisy=True, t=t)]
    b = _pack(model, tok, plan)
    noise = torch.randn(b.latent_x0.shape, generator=g)
    with torch.no_grad():
        out = model.forward_packed(b, noise=noise, return_velocity=True)
    x0 = latent_patchify(target)
    xt = (1 - t) * x0 + t * noise[-12:]
    v = model.velocity(ctx, xt, t, (4, 3), sp)
    assert (v - out.velocity).abs().max() < 1e-5


# ---------------------------------------------------------------- guidance and flow
def test_guidance_at_scale_one_equals_no_guidance(model, tok):
    sp = tok.special
    ctx, _ = _context(model, tok)
    text_uncond, _ = _context(model, tok, prompt="")
    img_uncond = model.prefill_text(Context(), tok.encode("Restore this photo."), sp)
    x0 = torch.randn(12, 64, generator=torch.Generator().manual_seed(0))
    plain = model.generate_latents(ctx, (4, 3), sp, FlowSampler(steps=3, timestep_shift=3.0), x_init=x0)
    guided = model.generate_latents(ctx, (4, 3), sp, FlowSampler(steps=3, timestep_shift=3.0, cfg_img=3.0),
                                    x_init=x0, text_uncond=text_uncond, img_uncond=img_uncond)
    assert torch.equal(plain, guided)
    strong = model.generate_latents(ctx, (4, 3), sp, FlowSampler(steps=3, timestep_shift=3.0, cfg_text=4.0,
                                                                  cfg_img=2.0),
                                    x_init=x0, text_uncond=text_uncond, img_uncond=img_uncond)
    assert not torch.allclose(plain, strong)


def test_guide_formulas():
    g = torch.Generator().manual_seed(0)
    vc, vt, vi = (torch.randn(5, 4, generator=g) for _ in range(3))
    assert torch.equal(guide(vc, vt, vi, 1.0, 5.0), vc)  # image scale alone does nothing
    u = vt + 3 * (vc - vt)
    u = vi + 2 * (u - vi)
    s = min(1.0, float(vc.norm() / u.norm()))
    assert torch.allclose(guide(vc, vt, vi, 3.0, 2.0, "global"), u * s, atol=1e-6)
    s_tok = (vc.norm(dim=-1, keepdim=True) / u.norm(dim=-1, keepdim=True)).clamp(max=1.0)
    assert torch.allclose(guide(vc, vt, vi, 3.0, 2.0, "channel"), u * s_tok, atol=1e-6)
    ut = vt + 3 * (vc - vt)
    ut = ut * (vc.norm(dim=-1, keepdim=True) / ut.norm(dim=-1, keepdim=True)).clamp(max=1.0)
    assert torch.allclose(guide(vc, vt, vi, 3.0, 2.0, "text_channel"), vi + 2 * (ut - vi), atol=1e-6)
    with pytest.raises(ValueError):
        guide(vc, vt, vi, 3.0, 2.0, "bogus")


def test_schedule_and_sampler():
    ts = sampling_schedule(11, 1.0)
    assert ts[0] == 1.0 and ts[-1] == 0.0 and len(ts) == 11
    assert ts[1].item() == pytest.approx(0.9, abs=1e-7)
    # shift 3 keeps endpoints and moves the middle towards noise
    s = sampling_schedule(11, 3.0)
    assert s[0] == 1.0 and s[-1] == 0.0 and s[5] > 0.5
    assert shift_timesteps(torch.tensor(0.5), 3.0).item() == pytest.approx(0.75)
    # Euler on a constant field v = c: x(0) = x(1) - c exactly
    c = torch.randn(3, 4)
    x1 = torch.randn(3, 4)
    calls = []
    out = euler_sample(lambda x, t: c, x1, s, callback=lambda i, n: calls.append(i))
    assert torch.allclose(out, x1 - c, atol=1e-6) and calls == list(range(1, 11))
    # logit-normal training times: median 0.5, inside (0, 1)
    t = sample_train_timesteps(20000, torch.Generator().manual_seed(0))
    assert 0.48 < t.median().item() < 0.52 and t.min() > 0 and t.max() < 1
    with pytest.raises(ValueError):
        sampling_schedule(1, 1.0)


# ---------------------------------------------------------------- training
def test_one_tiny_batch_overfits(tok):
    torch.manual_seed(0)
    m = UAREModel(micro(vocab_size=tok.vocab_size)).train()
    patches, grid, latent = _image(0)
    plan = [ViTItem(patches, grid), TextItem(tok.encode("Assess the image."), loss=False),
            TextItem(tok.encode("The quality of the image is poor."), loss=True),
            VAEItem(latent, noisy=True, t=0.5)]
    b = _pack(m, tok, plan)
    noise = torch.randn(b.latent_x0.shape, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    first = None
    for _ in range(200):
        out = m.forward_packed(b, noise=noise)
        loss = out.mse + 0.25 * out.ce
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < first / 10:
            break
    assert loss.item() < first / 10, (first, loss.item())


def test_detach_und_blocks_gradients_to_und_and_through_und_rows(tok):
    torch.manual_seed(0)
    m = UAREModel(micro(vocab_size=tok.vocab_size)).train()
    torch.nn.init.normal_(m.llm2vae.weight, std=0.05)
    patches, grid, latent = _image(0)
    plan = [VAEItem(latent), TextItem(tok.encode("Restore it.")), VAEItem(latent, noisy=True, t=0.5)]
    b = _pack(m, tok, plan)
    out = m.forward_packed(b, detach_und=True)
    out.mse.backward()
    und_grads = [p.grad for n, p in m.language_model.named_parameters() if "layers" in n and "_moe_gen" not in n]
    gen_grads = [p.grad for n, p in m.language_model.named_parameters() if "_moe_gen" in n]
    assert all(g is None or g.abs().sum() == 0 for g in und_grads)
    assert any(g is not None and g.abs().sum() > 0 for g in gen_grads)


# ---------------------------------------------------------------- special tokens
def test_special_token_ids_are_never_hard_coded():
    import ast

    root = Path(__file__).resolve().parents[1] / "uare"
    qwen_ids = {151643, 151644, 151645, 151652, 151653}
    offenders = []
    for p in root.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Constant) and type(node.value) is int and node.value in qwen_ids:
                offenders.append(f"{p}:{node.lineno}")
    assert offenders == []


def test_pack_uses_the_tokenizers_special_ids(tmp_path, tok):
    import json

    tok.save(tmp_path, qwen2_files=True)
    cfg_path = tmp_path / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    # permute the special ids in the files: the packer must follow them
    dec = cfg["added_tokens_decoder"]
    ids = sorted(dec, key=int)
    contents = [dec[i]["content"] for i in ids]
    rotated = contents[1:] + contents[:1]
    for i, c in zip(ids, rotated, strict=True):
        dec[i]["content"] = c
    cfg_path.write_text(json.dumps(cfg))
    (tmp_path / "tokenizer.json").unlink()
    from uare.model.tokenizer import Tokenizer

    t2 = Tokenizer.from_folder(tmp_path)
    assert t2.special != tok.special
    patches, grid, latent = _image(0)
    b = pack([[TextItem([5]), VAEItem(latent)]], t2.special, 8, 16)
    assert b.input_ids[0] == t2.special.bos and b.input_ids[2] == t2.special.eos
    assert b.input_ids[3] == t2.special.start_of_image and b.input_ids[-1] == t2.special.end_of_image


def test_per_sample_attention_equals_the_block_diagonal_mask(model, tok):
    patches, grid, latent = _image(0)
    a = [ViTItem(patches, grid), TextItem(tok.encode("Rate it."), loss=True), VAEItem(latent, noisy=True, t=0.4)]
    b = [TextItem(tok.encode("Hello there."), loss=True), VAEItem(latent), TextItem([5, 6], loss=True)]
    c = model.config
    batch = pack([a, b, a], tok.special, c.vit_max_num_patch_per_side, c.max_latent_size)
    x = torch.randn(batch.num_rows, c.llm.hidden_size, generator=torch.Generator().manual_seed(0))
    lm = model.language_model.model
    with torch.no_grad():
        h1, _ = lm(x, batch.gen, batch.positions, batch.attention())
        h2, _ = lm(x, batch.gen, batch.positions, batch.mask)
    assert (h1 - h2).abs().max() < 1e-5


def test_degraded_source_replaces_noise_of_conditioned_targets_only(tok):
    """flow_source: degraded -- a target's source is its own sample's LQ latent (+ sigma * noise)."""
    from uare.model.packing import degraded_source, pack

    g = torch.Generator().manual_seed(0)
    lq, hq = torch.randn(16, 8, 6, generator=g), torch.randn(16, 8, 6, generator=g)
    other = torch.randn(16, 4, 4, generator=g)
    plans = [
        [VAEItem(lq), TextItem([5, 6]), VAEItem(hq, noisy=True, t=0.5)],  # restoration: LQ -> HQ
        [TextItem([7]), VAEItem(hq, noisy=True, t=0.7)],  # no condition: keeps pure noise
        [VAEItem(other), VAEItem(hq, noisy=True, t=0.2)],  # a clean image of another size: no match
    ]
    b = pack(plans, tok.special, 8, 16)
    noise = torch.randn(b.latent_x0.shape, generator=g)
    src = degraded_source(b, noise, sigma=0.1)
    img = b.latent_image
    assert torch.equal(src[img == 0], noise[img == 0])  # clean rows are untouched
    assert torch.allclose(src[img == 1], b.latent_x0[img == 0] + 0.1 * noise[img == 1])
    assert torch.equal(src[img == 2], noise[img == 2])
    assert torch.equal(src[img == 4], noise[img == 4])
    # sigma 0: the flow time t interpolates exactly between the LQ and the HQ latents
    src0 = degraded_source(b, noise, sigma=0.0)
    assert torch.equal(src0[img == 1], b.latent_x0[img == 0])
