"""Degradation operators against independent references (scipy, Pillow, closed forms)."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, stats

from uare.degrade import (
    add_gaussian_noise,
    add_haze,
    add_poisson_noise,
    add_rain,
    defocus_blur,
    depth_proxy,
    gaussian_blur,
    jpeg_compress,
    lowlight,
    lowres,
    motion_blur,
    resize,
    sensor_noise,
    sinc_filter,
    sr_downsample,
    usm_sharpen,
)
from uare.degrade.blur import filter_float, random_realesrgan_kernel
from uare.degrade.kernels import (
    disk_kernel,
    effective_sigma,
    gaussian_kernel,
    generalized_gaussian_kernel,
    motion_kernel,
    plateau_kernel,
    random_mixed_kernel,
    sinc_kernel,
)
from uare.degrade.lowlight import srgb_to_linear


def flat(value: float = 0.5, size: int = 256, c: int = 3) -> np.ndarray:
    return np.full((size, size, c), value, np.float32)


# ---------------------------------------------------------------- noise
@pytest.mark.parametrize("sigma", [5.0, 15.0, 25.0, 50.0])
def test_gaussian_noise_std_matches_request(sigma):
    img = flat(0.5, 512)
    out, step = add_gaussian_noise(img, sigma, rng=0)
    # no clipping can happen at 0.5 +- 4 sigma for sigma <= 25; for 50 check before clipping via float path
    measured = float(np.std(out - img)) * 255
    if sigma <= 25:
        assert abs(measured - sigma) / sigma < 0.03
    assert step.category == "noise" and step.params["sigma"] == sigma


def test_gaussian_noise_gray_is_same_on_every_channel_and_colour_is_not():
    img = flat(0.5)
    gray, _ = add_gaussian_noise(img, 10, gray=True, rng=1)
    colour, _ = add_gaussian_noise(img, 10, gray=False, rng=1)
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    assert not np.array_equal(colour[..., 0], colour[..., 1])


def test_poisson_noise_matches_photon_statistics():
    # A strip with all 256 levels makes the photon count 256, as for a natural 8-bit photo.
    img = np.zeros((256, 512, 3), np.float32)
    img[:, :256] = 0.05
    img[:, 256:] = 0.8
    img[:8, :256] = (np.arange(256, dtype=np.float32) / 255)[None, :, None]
    out, step = add_poisson_noise(img, 1.0, rng=0)
    for value, sl in ((0.05, np.s_[8:, :256]), (0.8, np.s_[8:, 256:])):
        expected = np.sqrt(value * 256) / 256  # std of Poisson(I * 256) / 256
        assert np.std((out - img)[sl]) == pytest.approx(expected, rel=0.05)
    half, _ = add_poisson_noise(img, 0.5, rng=0)
    assert np.std((half - img)[8:, 256:]) == pytest.approx(0.5 * np.sqrt(0.8 * 256) / 256, rel=0.05)
    assert step.params["std"] > 0


def test_noise_rejects_negative():
    with pytest.raises(ValueError, match="sigma"):
        add_gaussian_noise(flat(), -1)


# ---------------------------------------------------------------- kernels
@pytest.mark.parametrize("size,sigma", [(7, 0.8), (13, 2.0), (21, 3.0)])
def test_isotropic_gaussian_kernel_matches_closed_form(size, sigma):
    k = gaussian_kernel(size, sigma)
    x = np.arange(size) - size // 2
    g = stats.norm.pdf(x, scale=sigma)
    ref = np.outer(g, g)
    ref /= ref.sum()
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(k, ref, atol=1e-7)


def test_anisotropic_rotated_gaussian_matches_scipy_multivariate_normal():
    size, sx, sy, theta = 21, 3.0, 1.0, math.pi / 5
    k = gaussian_kernel(size, sx, sy, theta)
    # Independent covariance: the major axis along (cos t, sin t) with variance sx^2.
    u = np.array([math.cos(theta), math.sin(theta)])
    v = np.array([-math.sin(theta), math.cos(theta)])
    cov = sx**2 * np.outer(u, u) + sy**2 * np.outer(v, v)
    ax = np.arange(size) - size // 2
    xx, yy = np.meshgrid(ax, ax)
    ref = stats.multivariate_normal(mean=[0, 0], cov=cov).pdf(np.stack([xx, yy], -1))
    ref /= ref.sum()
    np.testing.assert_allclose(k, ref, atol=1e-7)


def test_generalized_and_plateau_kernels():
    size, s = 15, 2.0
    # beta = 1 generalized Gaussian is the Gaussian
    np.testing.assert_allclose(generalized_gaussian_kernel(size, s, beta=1.0), gaussian_kernel(size, s), atol=1e-7)
    ax = np.arange(size) - size // 2
    xx, yy = np.meshgrid(ax, ax)
    q = (xx**2 + yy**2) / s**2
    for beta in (0.5, 2.0, 4.0):
        ref = np.exp(-0.5 * q**beta)
        np.testing.assert_allclose(generalized_gaussian_kernel(size, s, beta=beta), ref / ref.sum(), atol=1e-7)
        ref = 1 / (1 + q**beta)
        np.testing.assert_allclose(plateau_kernel(size, s, beta=beta), ref / ref.sum(), atol=1e-7)
    # heavier tails for beta < 1
    assert generalized_gaussian_kernel(size, s, beta=0.5)[0, size // 2] > gaussian_kernel(size, s)[0, size // 2]


def test_random_mixed_kernels_sum_to_one_and_follow_family_probabilities():
    rng = np.random.default_rng(0)
    names = []
    for _ in range(2000):
        k, p = random_mixed_kernel(rng, int(rng.choice([7, 9, 11, 21])))
        assert abs(float(k.sum()) - 1) < 1e-5 and np.all(k >= 0)
        assert 0.2 <= p["sigma_x"] <= 3 and 0.2 <= p["sigma_y"] <= 3
        names.append(p["kernel"])
    frac_iso = names.count("iso") / len(names)
    assert abs(frac_iso - 0.45) < 0.04
    assert abs(names.count("aniso") / len(names) - 0.25) < 0.04


def test_realesrgan_kernel_sizes_and_sinc_probability():
    rng = np.random.default_rng(1)
    sizes, sinc = set(), 0
    for _ in range(1000):
        k, p = random_realesrgan_kernel(rng)
        assert k.shape == (21, 21)
        assert abs(float(k.sum()) - 1) < 1e-4
        sizes.add(p["size"])
        sinc += p["kernel"] == "sinc"
    assert sizes == set(range(7, 22, 2))
    assert 60 < sinc < 140  # p = 0.1


def test_sinc_kernel_is_a_lowpass_with_the_requested_cutoff():
    omega = math.pi / 3
    k = sinc_kernel(21, omega, pad_to=63)
    assert k.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-8)
    spec = np.abs(np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(k))))
    f = np.fft.fftshift(np.fft.fftfreq(63)) * 2 * math.pi
    fx, fy = np.meshgrid(f, f)
    r = np.hypot(fx, fy)
    assert spec[r < 0.6 * omega].mean() > 0.9
    assert spec[r > 1.5 * omega].mean() < 0.1


def test_sinc_filter_rings_at_an_edge():
    img = np.zeros((64, 64, 1), np.float32)
    img[:, 32:] = 0.8
    out, step = sinc_filter(img, math.pi / 4)
    assert out.max() > 0.8 + 0.02 or out.min() < -0.0  # overshoot beyond the edge level
    assert step.category == "ringing"


def test_motion_and_disk_kernels_spread_as_designed():
    for length in (5.0, 9.8, 17.6):
        for angle in (0.0, 33.0, 90.0):
            k = motion_kernel(length, angle)
            assert k.sum() == pytest.approx(1.0, abs=1e-5)
            assert effective_sigma(k) == pytest.approx(length / math.sqrt(24), rel=0.12)
    # horizontal motion spreads along x only
    k = motion_kernel(9, 0.0)
    assert k.sum(axis=1).max() > 0.85 and k.sum(axis=0).max() < 0.2
    for r in (1.6, 4.0, 7.2):
        k = disk_kernel(r)
        assert k.sum() == pytest.approx(1.0, abs=1e-5)
        assert effective_sigma(k) == pytest.approx(r / 2, rel=0.06)


def test_filter_is_a_convolution_with_reflect101_borders():
    rng = np.random.default_rng(0)
    img = rng.random((40, 50, 3), dtype=np.float32)
    k = motion_kernel(7, 20.0)  # centrally symmetric, so also check an asymmetric one
    k_asym = np.zeros((5, 5), np.float32)
    k_asym[1, 3], k_asym[2, 2], k_asym[4, 0] = 0.2, 0.5, 0.3
    for kern in (k, k_asym):
        ours = filter_float(img, kern)
        ref = np.stack([ndimage.convolve(img[..., c], kern, mode="mirror") for c in range(3)], -1)
        np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_blur_ops_records_and_uint8_roundtrip():
    img = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    for out, step in (gaussian_blur(img, 2.0), motion_blur(img, 9, 45.0), defocus_blur(img, 3.0)):
        assert out.dtype == np.uint8 and out.shape == img.shape
        assert step.category == "blur"
        json.dumps(step.to_dict())


# ---------------------------------------------------------------- JPEG
@pytest.mark.parametrize("quality", [10, 20, 50, 90])
def test_jpeg_is_byte_identical_to_pillow(quality):
    rng = np.random.default_rng(quality)
    img = (ndimage.gaussian_filter(rng.random((96, 80, 3)), (2, 2, 0)) * 255).astype(np.uint8)
    out, step = jpeg_compress(img, quality)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    ref = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert np.array_equal(out, ref)
    assert step.params["bytes"] == len(buf.getvalue())


def test_jpeg_gray_stays_gray():
    img = (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)
    out, _ = jpeg_compress(img, 30)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=30)
    assert out.shape == (32, 32)
    assert np.array_equal(out, np.asarray(Image.open(buf)))


# ---------------------------------------------------------------- resize
@pytest.mark.parametrize("mode", ["area", "bilinear", "bicubic", "matlab_bicubic"])
def test_resize_output_sizes(mode):
    img = np.random.default_rng(0).random((50, 70, 3)).astype(np.float32)
    out, step = resize(img, size=(20, 33), mode=mode)
    assert out.shape == (20, 33, 3)
    assert step.category == "lowres"
    up, step = resize(img, scale=1.5, mode=mode)
    assert up.shape == (75, 105, 3)
    assert step.category is None


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("hw", [(64, 48), (67, 50), (101, 99)])
def test_sr_downsample_is_exactly_h_over_scale(scale, hw):
    img = np.random.default_rng(0).integers(0, 256, (*hw, 3), dtype=np.uint8)
    out, step = sr_downsample(img, scale)
    assert out.shape == (hw[0] // scale, hw[1] // scale, 3)
    if scale > 1:
        assert step.params["factor"] == scale


def test_matlab_bicubic_preserves_constants_and_lowres_keeps_size():
    img = flat(0.3, 64)
    out, _ = sr_downsample(img, 4)
    np.testing.assert_allclose(out, 0.3, atol=1e-5)
    out, step = lowres(np.random.default_rng(0).random((60, 60, 3)).astype(np.float32), 3.0)
    assert out.shape == (60, 60, 3) and step.params["factor"] == 3.0


# ---------------------------------------------------------------- low light, haze, rain, USM
def test_lowlight_scales_linear_light():
    img = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32) * 0.9 + 0.05
    out, step = lowlight(img, 0.25, 1.0)
    ratio = srgb_to_linear(out) / srgb_to_linear(img)
    np.testing.assert_allclose(ratio, 0.25, rtol=1e-3)
    out2, _ = lowlight(img, 0.25, 1.4)
    assert out2.mean() < out.mean()  # gamma > 1 darkens further
    assert step.params["stops"] == pytest.approx(2.0)


def test_sensor_noise_is_stronger_in_brighter_linear_light_in_absolute_terms():
    dark, mid = flat(0.1), flat(0.6)
    lin = srgb_to_linear
    d, _ = sensor_noise(dark, shot=1e-2, read=0.0, rng=0)
    m, _ = sensor_noise(mid, shot=1e-2, read=0.0, rng=0)
    assert np.std(lin(m)) > np.std(lin(d))


def test_haze_follows_atmospheric_scattering():
    rng = np.random.default_rng(0)
    img = rng.random((48, 64, 3)).astype(np.float32)
    beta, a = 1.2, 0.9
    out, step = add_haze(img, beta, airlight=a)
    t = np.exp(-beta * depth_proxy(img))[..., None]
    np.testing.assert_allclose(out, img * t + a * (1 - t), atol=1e-6)
    d = depth_proxy(img)
    assert d.min() >= 0.25 - 1e-6 and d.max() <= 1 + 1e-6
    assert d[0].mean() > d[-1].mean()  # the top reads farther than the bottom
    # an image already equal to the airlight does not change
    same, _ = add_haze(flat(a, 32), 2.0, airlight=a)
    np.testing.assert_allclose(same, a, atol=1e-6)
    assert step.category == "haze"


def test_rain_adds_bright_streaks_and_denser_rain_is_a_superset():
    img = flat(0.3, 128)
    light, _ = add_rain(img, 0.003, rng=5)
    heavy, step = add_rain(img, 0.012, rng=5)
    assert np.all(light >= img - 1e-6) and np.all(heavy >= light - 1e-6)
    assert (heavy > 0.35).mean() > (light > 0.35).mean() > 0
    assert step.category == "rain"


def test_usm_sharpen_keeps_flat_regions_and_raises_edges():
    img = np.zeros((64, 64, 3), np.float32)
    img[:, 32:] = 0.6
    out = usm_sharpen(img)
    assert out[:, :8].max() == pytest.approx(0.0, abs=1e-6)
    assert out[:, 32:34].mean() > 0.6  # overshoot on the bright side of the edge


def test_jpeg_refuses_a_side_over_libjpegs_limit_with_one_line():
    from uare.degrade import jpeg_compress

    img = np.zeros((20, 70_000, 3), np.uint8)
    with pytest.raises(ValueError, match=r"JPEG cannot hold a side over 65,500 px \(this image is 70000x20\)"):
        jpeg_compress(img, 50)
