"""Self-contained tests for uare.metrics (no ../shared data needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from uare.metrics import (
    brisque,
    fit_logistic4,
    krcc,
    logistic4,
    ms_ssim,
    niqe,
    plcc,
    psnr,
    rgb_to_y,
    srcc,
    ssim,
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()[:256, 128:384]  # 256x256 RGB crop keeps the tests fast


def _noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


# --- colour -------------------------------------------------------------------------------------


def test_ycbcr_y_matches_matlab_rgb2ycbcr_values() -> None:
    px = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [100, 150, 200]], float)
    # MATLAB: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 -> 16, 235, 81.481, 144.553, 40.966
    expected = [
        16.0,
        235.0,
        81.481,
        144.553,
        40.966,
        16 + (65.481 * 100 + 128.553 * 150 + 24.966 * 200) / 255,
    ]
    np.testing.assert_allclose(rgb_to_y(px), expected, atol=1e-9)
    # MATLAB on uint8 input rounds: 81, 145, 41.
    np.testing.assert_array_equal(rgb_to_y(px[2:5], round_=True), [81, 145, 41])
    np.testing.assert_allclose(rgb_to_y(px[2:5], "yiq"), [0.299 * 255, 0.587 * 255, 0.114 * 255])


# --- PSNR ---------------------------------------------------------------------------------------


def test_psnr_hand_computed() -> None:
    a = np.zeros((8, 8, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 16  # MSE = 256 / 192 over all channels
    assert psnr(b, a, convention="rgb") == pytest.approx(10 * np.log10(255**2 / (256 / 192)))
    g = np.full((4, 4), 10, np.uint8)
    assert psnr(g + 1, g, convention="rgb") == pytest.approx(20 * np.log10(255))  # MSE 1
    # basicsr on gray: no colour conversion, same value.
    assert psnr(g + 1, g) == pytest.approx(20 * np.log10(255))


def test_psnr_rgb_matches_skimage(astronaut: np.ndarray) -> None:
    noisy = _noisy(astronaut, 10)
    assert psnr(noisy, astronaut, convention="rgb") == pytest.approx(
        peak_signal_noise_ratio(astronaut, noisy, data_range=255), rel=1e-12
    )


def test_psnr_basicsr_y_channel_and_crop(astronaut: np.ndarray) -> None:
    noisy = _noisy(astronaut, 10)
    y1, y2 = rgb_to_y(noisy.astype(float)), rgb_to_y(astronaut.astype(float))
    expected = 10 * np.log10(255**2 / np.mean((y1[4:-4, 4:-4] - y2[4:-4, 4:-4]) ** 2))
    assert psnr(noisy, astronaut, scale=4) == pytest.approx(expected, rel=1e-12)
    assert psnr(noisy, astronaut, crop_border=4) == pytest.approx(expected, rel=1e-12)
    assert psnr(noisy, astronaut, scale=4, crop_border=0) != pytest.approx(expected, rel=1e-9)
    # realisr ignores scale (no crop) and matches pyiqa's [0,1] formula with eps.
    exp_real = 10 * np.log10(1 / (np.mean((y1 - y2) ** 2) / 255**2 + 1e-8))
    assert psnr(noisy, astronaut, convention="realisr", scale=4) == pytest.approx(exp_real, rel=1e-12)


def test_crop_border_only_uses_interior() -> None:
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    img = ref.copy()
    img[:3] = 0  # damage only a 3-pixel top border
    assert psnr(img, ref, convention="rgb", crop_border=3) == np.inf
    assert np.isfinite(psnr(img, ref, convention="rgb", crop_border=2))
    assert ssim(img, ref, convention="rgb", crop_border=3) == pytest.approx(1.0)


def test_identical_images(astronaut: np.ndarray) -> None:
    for conv in ("basicsr", "rgb"):
        assert psnr(astronaut, astronaut, convention=conv) == np.inf
    # pyiqa adds eps = 1e-8 to the MSE of [0,1] data: 80 dB.
    assert psnr(astronaut, astronaut, convention="realisr") == pytest.approx(80.0)
    for conv in ("basicsr", "realisr", "rgb", "yiq"):
        assert ssim(astronaut, astronaut, convention=conv) == pytest.approx(1.0)
    assert ms_ssim(data.astronaut(), data.astronaut()) == pytest.approx(1.0)


# --- SSIM ---------------------------------------------------------------------------------------


def test_ssim_gray_matches_skimage_on_valid_region() -> None:
    cam = data.camera()[:200, :200]
    noisy = _noisy(cam, 15)
    ours = ssim(noisy, cam)
    # skimage: same window (truncate 3.5 -> 11x11), population covariance; its mean skips
    # (win_size - 1) // 2 = 3 pixels, ours the full 5-pixel 'valid' margin, so compare the maps.
    _, smap = structural_similarity(
        cam.astype(float),
        noisy.astype(float),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        full=True,
    )
    assert ours == pytest.approx(smap[5:-5, 5:-5].mean(), rel=1e-9)
    assert ours != pytest.approx(smap[3:-3, 3:-3].mean(), rel=1e-6)  # the cropping really differs


def test_ssim_rgb_is_channel_mean(astronaut: np.ndarray) -> None:
    noisy = _noisy(astronaut, 12)
    per_channel = [ssim(noisy[..., c], astronaut[..., c]) for c in range(3)]
    assert ssim(noisy, astronaut, convention="rgb") == pytest.approx(np.mean(per_channel), rel=1e-12)
    assert ssim(noisy, astronaut, convention="basicsr") != pytest.approx(np.mean(per_channel), rel=1e-4)


def test_ssim_decreases_with_noise(astronaut: np.ndarray) -> None:
    vals = [ssim(_noisy(astronaut, s), astronaut, convention="realisr") for s in (2, 8, 25)]
    assert vals[0] > vals[1] > vals[2]


def test_input_formats_agree(astronaut: np.ndarray) -> None:
    noisy = _noisy(astronaut, 10)
    ref_val = psnr(noisy, astronaut, convention="rgb")
    as_float = psnr(noisy / 255.0, astronaut / 255.0, convention="rgb")
    t_noisy = torch.from_numpy(noisy).permute(2, 0, 1).float() / 255
    t_ref = torch.from_numpy(astronaut).permute(2, 0, 1).float() / 255
    as_tensor = psnr(t_noisy, t_ref, convention="rgb")
    assert as_float == pytest.approx(ref_val, rel=1e-9)
    assert as_tensor == pytest.approx(ref_val, rel=1e-5)  # float32 tensors
    batch = psnr(t_noisy[None].repeat(2, 1, 1, 1), t_ref[None].repeat(2, 1, 1, 1), convention="rgb")
    assert isinstance(batch, np.ndarray) and batch.shape == (2,)
    np.testing.assert_allclose(batch, as_tensor, rtol=1e-12)
    nb = np.stack([noisy, astronaut])
    s = ssim(nb, np.stack([astronaut, astronaut]))
    assert s.shape == (2,) and s[1] == pytest.approx(1.0) and s[0] == pytest.approx(ssim(noisy, astronaut))


@pytest.mark.parametrize(
    ("a", "b", "msg"),
    [
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8), "same shape"),
        (np.zeros((8, 8, 3), np.int64), np.zeros((8, 8, 3), np.int64), "dtype"),
        (np.zeros((0, 8, 3), np.uint8), np.zeros((0, 8, 3), np.uint8), "empty"),
        (np.full((8, 8, 3), 7.0), np.zeros((8, 8, 3)), r"\[0, 1\]"),
        (np.zeros((8, 8, 5), np.uint8), np.zeros((8, 8, 5), np.uint8), "C in"),
        ([[1, 2], [3, 4]], [[1, 2], [3, 4]], "numpy array or torch tensor"),
    ],
)
def test_bad_inputs(a: object, b: object, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        psnr(a, b)


def test_bad_arguments() -> None:
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="convention"):
        psnr(img, img, convention="matlab")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="leaves nothing"):
        psnr(img, img, crop_border=16)
    with pytest.raises(ValueError, match="at least"):
        ssim(img[:8, :8], img[:8, :8])
    with pytest.raises(ValueError, match="at least"):
        ms_ssim(img, img)
    with pytest.raises(ValueError, match="at least"):
        niqe(img)
    with pytest.raises(ValueError, match="empty"):
        brisque(np.zeros((0, 0), np.uint8))


# --- MS-SSIM ------------------------------------------------------------------------------------


def test_ms_ssim_orders_distortions() -> None:
    img = data.astronaut()
    vals = [ms_ssim(_noisy(img, s), img) for s in (3, 10, 30)]
    assert 1.0 > vals[0] > vals[1] > vals[2] > 0.0


# --- NIQE / BRISQUE -----------------------------------------------------------------------------


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (0, 0), sigma)


def test_niqe_rises_with_noise_and_blur() -> None:
    img = data.astronaut()
    clean = niqe(img)
    noise = [niqe(_noisy(img, s)) for s in (10, 30)]
    blur = [niqe(_blur(img, s)) for s in (1.5, 3.0)]
    assert clean < noise[0] < noise[1]
    assert clean < blur[0] < blur[1]
    assert 2.0 < clean < 6.0  # a clean photo scores in the usual NIQE range


def test_brisque_rises_with_noise_and_blur() -> None:
    img = data.chelsea()
    clean = brisque(img)
    noise = [brisque(_noisy(img, s)) for s in (10, 30)]
    blur = [brisque(_blur(img, s)) for s in (1.5, 3.0)]
    assert clean < noise[0] < noise[1]
    assert clean < blur[0] < blur[1]


def test_nr_metrics_batch_matches_single() -> None:
    img = data.coffee()[:192, :288]
    batch = np.stack([img, _noisy(img, 20)])
    np.testing.assert_allclose(niqe(batch), [niqe(img), niqe(batch[1])], rtol=1e-12)
    np.testing.assert_allclose(brisque(batch), [brisque(img), brisque(batch[1])], rtol=1e-12)


# --- correlation --------------------------------------------------------------------------------


def test_correlations_match_scipy() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    y = x + rng.normal(scale=0.7, size=200)
    assert srcc(x, y) == pytest.approx(stats.spearmanr(x, y)[0])
    assert krcc(x, y) == pytest.approx(stats.kendalltau(x, y)[0])
    assert plcc(x, y) == pytest.approx(stats.pearsonr(x, y)[0])
    assert srcc(x, -y) == pytest.approx(-srcc(x, y))


def test_logistic_fit_recovers_parameters() -> None:
    rng = np.random.default_rng(4)
    beta = np.array([5.0, 1.0, 0.3, 0.15])
    x = rng.uniform(-0.5, 1.1, 400)
    y = logistic4(x, *beta) + rng.normal(scale=0.02, size=x.size)
    est = fit_logistic4(x, y)
    np.testing.assert_allclose(est[:3], beta[:3], atol=0.05)
    assert abs(est[3]) == pytest.approx(beta[3], abs=0.02)
    # The fit linearises a monotone non-linear relation: fitted PLCC beats raw PLCC.
    assert plcc(x, y, fit="logistic4") > plcc(x, y) + 0.01
    assert plcc(x, y, fit="logistic4") > 0.99


def test_logistic_fit_decreasing_relation() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 10, 300)
    y = logistic4(-x, 9.0, 1.0, -5.0, 1.2) + rng.normal(scale=0.05, size=x.size)
    beta = fit_logistic4(x, y)
    assert beta[0] < beta[1]  # the fit found the decreasing branch (upper asymptote below lower)
    # After the fit the predictions are mapped onto MOS, so PLCC measures fit quality: positive.
    assert plcc(x, y, fit="logistic4") > 0.99
    assert plcc(x, y) < 0


def test_correlation_bad_inputs() -> None:
    with pytest.raises(ValueError, match="same length"):
        srcc([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 3"):
        plcc([1, 2], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        krcc([1, 2, np.nan], [1, 2, 3])
    with pytest.raises(ValueError, match="fit"):
        plcc([1, 2, 3], [1, 2, 3], fit="cubic")  # type: ignore[arg-type]


def test_ssim_downsample_averages_blocks() -> None:
    cam = data.camera()  # 512x512 -> f = 2
    noisy = _noisy(cam, 20)
    pooled = [im.astype(float).reshape(256, 2, 256, 2).mean(axis=(1, 3)) / 255 for im in (noisy, cam)]
    assert ssim(noisy, cam, downsample=True) == pytest.approx(ssim(pooled[0], pooled[1]), rel=1e-12)
    assert ssim(noisy, cam, downsample=True) > ssim(noisy, cam)
