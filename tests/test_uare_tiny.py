"""The shipped uare-tiny: its quality pinned at a small scale (seconds), on images it never trained on.

The images are scikit-image's bundled photos (not in the training folders). What is pinned:
the assessment follows image quality (a clean crop beats the same crop with noise, blur or JPEG at the
same size, the score moves monotonically with the noise level, the score does not follow the image's
size), the written texts agree with the numbers, restoration gains on a noisy crop and leaves a clean
crop as it was.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uare.degrade import degrade
from uare.infer import UARE
from uare.infer.pipeline import DEFAULT_MODEL_DIR
from uare.metrics import psnr

pytestmark = pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "config.json").is_file(),
                                reason="the shipped uare-tiny weights are not in this checkout")


@pytest.fixture(scope="module")
def model() -> UARE:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return UARE.from_pretrained()


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    from skimage import data

    return [data.astronaut()[40:232, 140:332], data.coffee()[100:292, 200:392], data.chelsea()[40:232, 100:292]]


def test_a_clean_crop_scores_higher_than_it_degraded(model, crops):
    # noise and blur by a clear margin; JPEG (which this release barely sees, see the model card) lower
    for crop in crops:
        clean = model.assess(crop, describe=False).score
        for t, margin in (("noise", 0.5), ("blur", 0.5), ("jpeg", 0.0)):
            bad, _ = degrade(crop, "single", types=[t], severity=4, seed=0)
            assert model.assess(bad, describe=False).score < clean - margin, t


def test_the_score_falls_with_the_noise_level(model, crops):
    from scipy.stats import kendalltau

    for crop in crops[:2]:
        scores = [model.assess(degrade(crop, "single", types=["noise"], severity=lv, seed=1)[0],
                               describe=False).score for lv in (1, 2, 3, 4, 5)]
        assert kendalltau(range(5), scores).statistic <= -0.8, scores


def test_the_score_does_not_follow_the_image_size(model, crops):
    """Release 1 scored the same photo 1.20, 1.77, 2.13, 2.25 at 56 / 98 / 140 / 182 px (SRCC 1)."""
    import cv2
    from scipy.stats import spearmanr

    sizes = (112, 140, 168, 192)
    rhos = []
    for crop in crops:
        scores = [model.assess(cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA), describe=False).score
                  for s in sizes]
        assert max(scores) - min(scores) < 1.0, scores
        rhos.append(spearmanr(sizes, scores).statistic)
    assert abs(np.mean(rhos)) <= 0.5, rhos


def test_the_texts_state_the_printed_numbers(model, crops):
    from uare.quality import level_from_score, parse_description

    a = model.assess(crops[0])
    assert a.level == level_from_score(round(a.score, 2))
    d = parse_description(a.text)
    assert d.level == a.level and d.score == pytest.approx(round(a.score, 2))


def test_restoring_a_noisy_crop_gains(model, crops):
    clean = crops[1][:64, :64]
    noisy, _ = degrade(clean, "single", types=["noise"], severity=4, seed=2)
    out = model.restore(noisy, task="denoise", seed=0).image
    assert psnr(out, clean) > psnr(noisy, clean) + 1.0


def test_a_clean_crop_comes_back_near_identical(model, crops):
    for crop in crops[:2]:
        r = model.restore(crop, seed=0)
        assert psnr(r.image, crop) >= 38.0, r.notes
