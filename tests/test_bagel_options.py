"""BAGEL's remaining behaviours, as options: CE re-weighting by answer length, BAGEL's image preparation
for BAGEL-format folders, sampling the VAE posterior, and ``max_length`` semantics of text generation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uare.data.items import VAE, Sample, Text, encode_vae_images, normalize_ce
from uare.errors import UareError
from uare.infer.pipeline import UARE, InferenceDefaults
from uare.model.config import micro
from uare.model.image_transforms import resize_to_stride, vit_patchify
from uare.model.packing import TextItem, VAEItem, ViTItem, pack
from uare.model.random_init import init_random
from uare.model.tokenizer import train_quality_tokenizer
from uare.model.unified import Context, UAREModel


@pytest.fixture(scope="module")
def tok():
    return train_quality_tokenizer(vocab_size=512, seed=0)


def _len2weight(n: int) -> float:
    """BAGEL's ``len2weight`` (data_utils, "square"), written independently: 1 / sqrt(n)."""
    return 1.0 / np.sqrt(n)


def test_sqrt_ce_norm_gives_bagel_weights():
    s = Sample([Text([1, 2, 3], loss=True), Text([4]), Text(list(range(8)), loss=True)], "x")
    normalize_ce(s, "sqrt")
    assert s.items[0].weights == pytest.approx([_len2weight(4)] * 4)  # 3 ids + <|im_end|>
    assert s.items[1].weights is None
    assert s.items[2].weights == pytest.approx([_len2weight(9)] * 9)
    with pytest.raises(ValueError, match="token, sqrt, item"):
        normalize_ce(s, "bogus")


def test_sqrt_ce_norm_is_bagels_reweighted_loss(tok):
    """loss = sum_i w_i CE_i / sum_i w_i with w = 1/sqrt(n) per text, as BAGEL's ce_loss_reweighting:
    checked against the per-text CE sums of the same forward (each text trained alone)."""
    torch.manual_seed(0)
    model = UAREModel(micro(vocab_size=tok.vocab_size)).train()
    g = torch.Generator().manual_seed(1)
    patches, grid = vit_patchify(torch.rand(3, 42, 56, generator=g) * 2 - 1, 14)
    latent = torch.randn(16, 8, 6, generator=g)
    a, b = tok.encode("The quality of the image is poor."), tok.encode("Slight noise and strong blur.")

    def run(loss_a: bool, loss_b: bool, mode: str):
        s = Sample([Text(a, loss=loss_a), Text(b, loss=loss_b)], "x")
        normalize_ce(s, mode)
        plan = [VAEItem(latent), ViTItem(patches, grid),
                TextItem(a, loss=loss_a, weights=s.items[0].weights), TextItem(b, loss=loss_b, weights=s.items[1].weights)]
        c = model.config
        out = model.forward_packed(pack([plan], tok.special, c.vit_max_num_patch_per_side, c.max_latent_size))
        return out

    with torch.no_grad():
        ce_a = run(True, False, "token").ce_sum.item()
        ce_b = run(False, True, "token").ce_sum.item()
        both = run(True, True, "sqrt")
    na, nb = len(a) + 1, len(b) + 1
    want = (ce_a * _len2weight(na) + ce_b * _len2weight(nb)) / (na * _len2weight(na) + nb * _len2weight(nb))
    assert both.ce.item() == pytest.approx(want, rel=1e-5)
    token = (ce_a + ce_b) / (na + nb)  # the default differs: every token counts once
    assert abs(token - want) > 1e-4


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tok):
    d = tmp_path_factory.mktemp("bagel")
    cfg = micro(vocab_size=tok.vocab_size)
    return {fmt: init_random(d / fmt, cfg, fmt=fmt, seed=0, tokenizer=tok) for fmt in ("bagel", "uare")}


def _photo(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    rgb = np.stack([np.sin(9 * xx), np.cos(7 * yy), xx * yy], -1) * 0.4 + 0.5
    return np.rint(rgb * 255).astype(np.uint8)


def test_bagel_folders_prepare_images_as_bagel(folders):
    """BAGEL's interleave_inference: the VAE transform (long <= 1024, short >= 512, stride 16; capped by
    the latent table), then the ViT transform on that result; uare folders keep the image's own size."""
    m = UARE.from_pretrained(folders["bagel"])
    assert m.bagel_prep and not UARE.from_pretrained(folders["uare"]).bagel_prep
    img = _photo(50, 90)
    top = m.config.max_latent_size * m.config.latent_downsample  # 256 px for micro
    vae_img = resize_to_stride(img, min(1024, top), min(512, top), 16)  # independent: one call per transform
    assert m.prep.vae_resize(img).shape[:2] == (vae_img.height, vae_img.width)
    vit_img = resize_to_stride(vae_img, 112, 112, 14)  # micro ViT: 8 patches of 14; min 224 capped at 112
    want, want_grid = vit_patchify(torch.from_numpy(np.asarray(vit_img, np.float32) / 127.5 - 1).permute(2, 0, 1), 14)
    got = m.prep.vit(img)
    assert got.grid == want_grid and torch.equal(got.patches, want)
    r = m.restore(img, task="denoise", seed=0)
    assert r.image.shape == img.shape and any("BAGEL's VAE transform" in n for n in r.notes)
    # uare's preparation on the same folder when asked
    m.defaults = InferenceDefaults(image_prep="uare")
    assert not m.bagel_prep and m.prep.vae_max_px == 0
    assert not any("VAE transform" in n for n in m.restore(img, task="denoise", seed=0).notes)


def test_vae_posterior_sampling_is_an_option(folders):
    m = UARE.from_pretrained(folders["uare"])
    img = _photo(48, 64)
    mean = m.restore(img, task="denoise", assess=False, seed=0).image
    m.defaults = InferenceDefaults(vae_posterior="sample")
    s1 = m.restore(img, task="denoise", assess=False, seed=0).image
    s2 = m.restore(img, task="denoise", assess=False, seed=0).image
    s3 = m.restore(img, task="denoise", assess=False, seed=1).image
    assert np.array_equal(s1, s2) and not np.array_equal(s1, mean) and not np.array_equal(s1, s3)
    with pytest.raises(UareError, match="vae_posterior must be one of mean, sample"):
        InferenceDefaults.from_dict({"vae_posterior": "mode"})


def test_train_vae_posterior_option(tok):
    from uare.train.config import TrainConfigError, config_from_dict

    base = {"init": {"preset": "micro"}}
    assert config_from_dict({**base, "train": {"vae_posterior": "sample"}}).train.vae_posterior == "sample"
    with pytest.raises(TrainConfigError, match="vae_posterior"):
        config_from_dict({**base, "train": {"vae_posterior": "mode"}})


def _bagel_generate(model, ctx, special, max_length: int) -> list[int]:
    """BAGEL's greedy text loop, written independently from its description: feed <|im_start|>, then
    argmax after argmax for ``max_length`` steps (stopping at <|im_end|>), return the ids with
    <|im_start|> first and the last argmax dropped. <|im_end|> is masked here so both loops run to the end."""
    ids = [special.bos]
    for _ in range(max_length):
        logits = model.next_token_logits(ctx, ids[1:], special)
        logits[special.eos] = float("-inf")
        ids.append(int(logits.argmax()))
    return ids[:-1]


def test_max_new_tokens_is_bagels_max_length_minus_one(tok):
    """uare's ``max_new_tokens`` N writes N tokens; BAGEL's ``max_length`` N writes N - 1 (docs/bagel.md)."""
    torch.manual_seed(0)
    model = UAREModel(micro(vocab_size=tok.vocab_size)).eval()
    ctx = model.prefill_text(Context(), tok.encode("Describe the image."), tok.special)
    with torch.no_grad():
        for n in (1, 4, 7):
            bagel = _bagel_generate(model, ctx, tok.special, n)
            ours = model.generate_text(ctx, tok.special, max_new_tokens=n - 1, min_new_tokens=n - 1)
            assert bagel[0] == tok.special.bos and bagel[1:] == ours.ids and len(ours.ids) == n - 1


def test_vae_posterior_sampling_in_training_batches():
    """``encode_vae_images(sample=True)``: a posterior draw, reproducible from its generator."""
    torch.manual_seed(0)
    from uare.model.vae import build_vae

    vae = build_vae(micro().vae).eval()
    x = torch.rand(3, 32, 48) * 2 - 1
    samples = [Sample([VAE(x), VAE(x, noisy=True)], "x")]
    with torch.no_grad():
        mean = encode_vae_images(samples, vae, torch.device("cpu"))
        a = encode_vae_images(samples, vae, torch.device("cpu"), sample=True, generator=torch.Generator().manual_seed(1))
        b = encode_vae_images(samples, vae, torch.device("cpu"), sample=True, generator=torch.Generator().manual_seed(1))
        c = encode_vae_images(samples, vae, torch.device("cpu"), sample=True, generator=torch.Generator().manual_seed(2))
    assert torch.equal(mean[0][0], mean[0][1])  # the mean: one image, one latent
    assert torch.equal(a[0][0], b[0][0]) and not torch.equal(a[0][0], c[0][0])
    assert not torch.equal(a[0][0], a[0][1])  # two encodings of one image draw twice
    assert (a[0][0] - mean[0][0]).abs().max() > 0
