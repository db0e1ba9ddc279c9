"""The one sequence builder: how every task's conversation is laid out, for training data and inference.

Training samples (:mod:`uare.data.sources`) and :class:`uare.infer.pipeline.UARE` both build their
sequences here, so the model is asked at inference exactly what it was trained on, token for token and
pixel for pixel (``tests/test_sequence.py`` checks it). Items (``I`` = the image as clean VAE latents,
``V`` = the image as ViT patches, ``T(...)`` = a text segment, ``*`` = the answer, trained / generated):

- score:    V, T(SCORE_QUESTION), T*("The quality of the image is <level>.")
- describe: V, T(assess instruction), T*(description)
- compare:  V(a), V(b), T(compare instruction), T*(comparison)
- restore:  I, V, T(task instruction), [T*(four-part analysis)], I*(restored image)

:class:`ImagePrep` is the one definition of how an image becomes model input: the ViT transform
(aspect kept, sides snapped to the patch, at most ``vit_max_px`` and at least ``vit_min_px``; BAGEL's) and
the VAE pixels in [-1, 1]. Builders take uint8 RGB or float RGB in [0, 1]; a float image is the uint8 one
divided by 255 gives identical items.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from uare.data.images import to_rgb3
from uare.data.items import VAE, DataItem, Text, ViT
from uare.io import to_uint8
from uare.model.image_transforms import resize_to_stride, to_tensor_pm1, vit_patchify
from uare.quality import SCORE_QUESTION

#: BAGEL's VAE transform: ``ImageTransform(1024, 512, 16)`` (long side, short side)
BAGEL_VAE_SIZES = (1024, 512)


def as_uint8(img: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB from uint8, uint16 (``x / 257``, rounded) or float [0, 1] (rounded), gray replicated."""
    if img.dtype.kind in "iub" and img.dtype != np.uint8:
        img = to_uint8(img)  # uint16; other integer types are refused there
    elif img.dtype != np.uint8:
        img = np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)
    return to_rgb3(img)


@dataclass(frozen=True)
class ImagePrep:
    """How an image becomes the two model inputs (see the module docstring)."""

    vit_patch: int
    vit_max_px: int  # a multiple of the patch
    vit_min_px: int
    latent_stride: int  # pixels per generation token along a side
    # BAGEL's preparation (0: off, uare's): every image is first resized by the VAE transform (aspect kept,
    # long side <= vae_max_px, short side >= vae_min_px, multiples of the latent stride), and the ViT
    # transform is applied to that result, as BAGEL's ``interleave_inference`` does
    vae_max_px: int = 0
    vae_min_px: int = 0

    @classmethod
    def from_model(cls, config, vit_max_size: int = 0, vit_min_size: int = 224, bagel: bool = False) -> ImagePrep:
        """The preparation for a model ``config`` (:class:`~uare.model.config.UAREConfig`), at most
        ``vit_max_size`` px (0: the model's largest grid) and at least ``vit_min_size`` px for the ViT;
        ``bagel``: BAGEL's VAE transform first (``ImageTransform(1024, 512, 16)``, capped by the latent table)."""
        prep = cls.from_sizes(config.vit.patch_size, min(config.vit_max_num_patch_per_side,
                                                         config.vit.image_size // config.vit.patch_size),
                              config.latent_downsample, vit_max_size, vit_min_size)
        if not bagel:
            return prep
        top = config.max_latent_size * config.latent_downsample
        vmax = min(BAGEL_VAE_SIZES[0], top)
        return dataclasses.replace(prep, vae_max_px=vmax, vae_min_px=min(BAGEL_VAE_SIZES[1], vmax))

    @classmethod
    def from_sizes(cls, patch: int, max_patches: int, latent_stride: int, vit_max_size: int = 0,
                   vit_min_size: int = 224) -> ImagePrep:
        """``max_patches`` the model's largest grid side; ``vit_max_size`` 0 = that grid, else its whole
        patches; ``vit_min_size`` 0 = one patch (for training and inference alike)."""
        if vit_max_size:
            max_patches = min(max_patches, vit_max_size // patch)
        max_px = patch * max(1, max_patches)
        return cls(patch, max_px, min(vit_min_size or patch, max_px), latent_stride)

    def vae_resize(self, img: np.ndarray) -> np.ndarray:
        """BAGEL's VAE transform (uint8, Pillow bicubic) when :attr:`vae_max_px` is set, else ``img`` as is.
        A float image comes back as float in [0, 1] (through uint8, as BAGEL sees images)."""
        if not self.vae_max_px:
            return img
        out = np.asarray(resize_to_stride(as_uint8(img), self.vae_max_px, self.vae_min_px, self.latent_stride))
        return out if img.dtype == np.uint8 else out.astype(np.float32) / 255

    def vit(self, img: np.ndarray, cfg: bool = False) -> ViT:
        """The ViT item: resized (aspect kept, multiples of the patch) and patchified (with BAGEL's
        preparation, from the VAE-resized image)."""
        pil = resize_to_stride(as_uint8(self.vae_resize(img)), self.vit_max_px, self.vit_min_px, self.vit_patch)
        patches, grid = vit_patchify(to_tensor_pm1(pil), self.vit_patch)
        return ViT(patches, grid, cfg=cfg)

    def vae_pixels(self, img: np.ndarray) -> torch.Tensor:
        """``[3, H, W]`` float32 in [-1, 1] (H, W must be multiples of :attr:`latent_stride`)."""
        if img.shape[0] % self.latent_stride or img.shape[1] % self.latent_stride:
            raise ValueError(f"VAE input sides must be multiples of {self.latent_stride}, got {img.shape[:2]}")
        if img.dtype == np.uint8:
            return to_tensor_pm1(to_rgb3(img))
        return torch.from_numpy(np.ascontiguousarray(to_rgb3(img), dtype=np.float32)).permute(2, 0, 1) * 2 - 1

    def vae(self, img: np.ndarray, noisy: bool = False, cfg: bool = False) -> VAE:
        return VAE(self.vae_pixels(img), noisy=noisy, cfg=cfg)


# ---------------------------------------------------------------------------------------------- tasks
def score_request(tok) -> list[DataItem]:
    """T(SCORE_QUESTION): what follows the image before a score answer (see :func:`score_sequence`)."""
    return [Text(tok.encode(SCORE_QUESTION))]


def describe_request(tok, instruction: str) -> list[DataItem]:
    """T(assess instruction): what follows the image before a description (see :func:`describe_sequence`)."""
    return [Text(tok.encode(instruction))]


def score_sequence(tok, prep: ImagePrep, img: np.ndarray) -> list[DataItem]:
    """V, T(SCORE_QUESTION): the context a Q-Align-style score answer follows."""
    return [prep.vit(img), *score_request(tok)]


def describe_sequence(tok, prep: ImagePrep, img: np.ndarray, instruction: str) -> list[DataItem]:
    """V, T(assess instruction): the context a quality description follows."""
    return [prep.vit(img), *describe_request(tok, instruction)]


def compare_sequence(tok, prep: ImagePrep, a: np.ndarray, b: np.ndarray, instruction: str) -> list[DataItem]:
    """V(a), V(b), T(compare instruction): the context a comparison follows."""
    return [prep.vit(a), prep.vit(b), Text(tok.encode(instruction))]


def restore_sequence(tok, prep: ImagePrep, lq: np.ndarray, instruction: str) -> list[DataItem]:
    """I(lq), V(lq), T(instruction): the conditions of a restoration (each may be dropped for guidance),
    followed in training by the analysis (stage 2) and the target image."""
    return [prep.vae(lq, cfg=True), prep.vit(lq, cfg=True), Text(tok.encode(instruction), cfg=True)]


def answer(tok, text: str, weights: list[float] | None = None) -> Text:
    """A trained (training) or generated (inference) text answer."""
    return Text(tok.encode(text), loss=True, weights=weights)
