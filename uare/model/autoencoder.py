"""The FLUX.1 autoencoder that BAGEL uses to turn images into generation latents and back.

The module tree mirrors FLUX's ``flux/modules/autoencoder.py`` so that ``state_dict()`` has exactly the
keys (and shapes) of ``ae.safetensors``: ``encoder.down.{l}.block.{b}.conv1.weight``,
``encoder.mid.attn_1.q.weight``, ``decoder.up.{l}.upsample.conv.weight`` and so on. The checkpoint can
therefore be loaded with ``load_state_dict(..., strict=True)`` without any renaming.

Pixel convention: images are ``B x 3 x H x W`` in ``[-1, 1]``; latents are ``B x z_channels x H/f x W/f``
with ``f = config.downsample`` (8 for BAGEL), already scaled and shifted the way BAGEL feeds them to the LLM.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from uare.errors import UareError
from uare.model.config import VAEConfig

__all__ = [
    "AttnBlock",
    "AutoEncoder",
    "AutoEncoderInputError",
    "Decoder",
    "Downsample",
    "Encoder",
    "ParamCount",
    "ResnetBlock",
    "Upsample",
    "swish",
]

# LDM's bounds on the posterior log-variance: keeps exp(0.5 * logvar) finite for untrained/odd inputs.
LOGVAR_MIN = -30.0
LOGVAR_MAX = 20.0


class AutoEncoderInputError(UareError, ValueError):
    """An image or latent handed to the autoencoder has the wrong rank, channels or spatial size."""


class ParamCount(NamedTuple):
    """Parameter counts (number of elements) of the autoencoder and its two halves."""

    total: int
    encoder: int
    decoder: int


def swish(x: Tensor) -> Tensor:
    """``x * sigmoid(x)`` (SiLU), the only nonlinearity of the FLUX autoencoder."""
    return x * torch.sigmoid(x)


def _norm(channels: int, groups: int = 32) -> nn.GroupNorm:
    # FLUX uses 32 groups with eps 1e-6 everywhere (not PyTorch's default 1e-5).
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """Pre-activation residual block: norm, swish, 3x3 conv, twice; 1x1 ``nin_shortcut`` when widths differ."""

    def __init__(self, in_channels: int, out_channels: int, groups: int = 32) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.norm1 = _norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.norm2 = _norm(out_channels, groups)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        # Only created when needed, so the key exists in the checkpoint exactly where FLUX has it.
        self.nin_shortcut: nn.Conv2d | None = None
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, padding=0)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block to ``B x in_channels x H x W``; returns ``B x out_channels x H x W``."""
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        skip = x if self.nin_shortcut is None else self.nin_shortcut(x)
        return skip + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all ``H*W`` positions, with 1x1-conv projections and a residual."""

    def __init__(self, in_channels: int, groups: int = 32) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.norm = _norm(in_channels, groups)
        # 1x1 convs rather than Linear layers: the checkpoint stores [C, C, 1, 1] kernels.
        self.q = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.k = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.v = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.proj_out = nn.Conv2d(in_channels, in_channels, kernel_size=1)

    def attention(self, h: Tensor) -> Tensor:
        """The attention output before ``proj_out`` and the residual (``h`` is the un-normalised input)."""
        h = self.norm(h)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape

        # B x C x H x W -> B x 1 head x HW tokens x C; SDPA's default scale 1/sqrt(C) is FLUX's.
        def tokens(t: Tensor) -> Tensor:
            return t.reshape(b, 1, c, hh * ww).transpose(-1, -2)

        out = F.scaled_dot_product_attention(tokens(q), tokens(k), tokens(v))
        return out.transpose(-1, -2).reshape(b, c, hh, ww)

    def forward(self, x: Tensor) -> Tensor:
        """``x + proj_out(attention(x))``; shape is preserved."""
        return x + self.proj_out(self.attention(x))


class Downsample(nn.Module):
    """Halve H and W: zero pad right/bottom by one, then a 3x3 stride-2 conv with no padding.

    The asymmetric pad (rather than ``padding=1``) is FLUX/LDM's choice; it changes which pixels each
    output sees, so it must be reproduced exactly for the pretrained weights to work. Output size is
    ``floor(H / 2)`` for every H (``ceil`` would need symmetric padding).
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x: Tensor) -> Tensor:
        """Downsample ``B x C x H x W`` to ``B x C x H//2 x W//2``."""
        x = F.pad(x, (0, 1, 0, 1), mode="constant", value=0.0)
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour x2, then a 3x3 conv with padding 1."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """Upsample ``B x C x H x W`` to ``B x C x 2H x 2W``."""
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """One resolution level: a ``block`` list and an optional ``downsample`` / ``upsample`` (FLUX's naming)."""

    def __init__(self, blocks: list[ResnetBlock]) -> None:
        super().__init__()
        self.block = nn.ModuleList(blocks)


class _Mid(nn.Module):
    """The bottleneck: ResnetBlock, AttnBlock, ResnetBlock at constant width."""

    def __init__(self, channels: int, groups: int = 32) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, groups)
        self.attn_1 = AttnBlock(channels, groups)
        self.block_2 = ResnetBlock(channels, channels, groups)

    def forward(self, x: Tensor) -> Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    """Image ``B x in_channels x H x W`` to posterior moments ``B x 2*z_channels x H/f x W/f`` (mean, logvar)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        ch, ch_mult = config.ch, list(config.ch_mult)
        self.conv_in = nn.Conv2d(config.in_channels, ch, kernel_size=3, stride=1, padding=1)
        in_ch_mult = (1, *ch_mult)
        self.down = nn.ModuleList()
        block_in = ch
        for i, mult in enumerate(ch_mult):
            block_in = ch * in_ch_mult[i]
            block_out = ch * mult
            blocks = []
            for _ in range(config.num_res_blocks):
                blocks.append(ResnetBlock(block_in, block_out, config.norm_groups))
                block_in = block_out
            level = _Level(blocks)
            if i != len(ch_mult) - 1:  # the lowest resolution level keeps its size
                level.downsample = Downsample(block_in)
            self.down.append(level)
        self.mid = _Mid(block_in, config.norm_groups)
        self.norm_out = _norm(block_in, config.norm_groups)
        self.conv_out = nn.Conv2d(block_in, 2 * config.z_channels, kernel_size=3, stride=1, padding=1)
        self.factor = config.downsample
        self.patch_skip: nn.Conv2d | None = None
        if config.patch_skip:
            self.patch_skip = nn.Conv2d(config.in_channels * self.factor**2, 2 * config.z_channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        """Return the concatenated ``[mean, logvar]`` moments along the channel axis."""
        deep = self._deep(x)
        if self.patch_skip is not None:
            deep = deep + self.patch_skip(F.pixel_unshuffle(x, self.factor))
        return deep

    def _deep(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for level in self.down:
            for block in level.block:
                h = block(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    """Latent ``B x z_channels x h x w`` (unscaled) to image ``B x out_ch x h*f x w*f``, nominally in [-1, 1]."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        ch, ch_mult = config.ch, list(config.ch_mult)
        block_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(config.z_channels, block_in, kernel_size=3, stride=1, padding=1)
        self.mid = _Mid(block_in, config.norm_groups)
        levels: list[_Level] = []
        # Built from the lowest resolution upwards, then reversed so that up.0 is the full-resolution level
        # (FLUX inserts each level at the front; the checkpoint indexes levels by resolution, not by order).
        for i in reversed(range(len(ch_mult))):
            block_out = ch * ch_mult[i]
            blocks = []
            for _ in range(config.num_res_blocks + 1):
                blocks.append(ResnetBlock(block_in, block_out, config.norm_groups))
                block_in = block_out
            level = _Level(blocks)
            if i != 0:
                level.upsample = Upsample(block_in)
            levels.append(level)
        self.up = nn.ModuleList(reversed(levels))
        self.norm_out = _norm(block_in, config.norm_groups)
        self.conv_out = nn.Conv2d(block_in, config.out_ch, kernel_size=3, stride=1, padding=1)
        self.factor = config.downsample
        self.patch_skip: nn.Conv2d | None = None
        if config.patch_skip:
            self.patch_skip = nn.Conv2d(config.z_channels, config.out_ch * self.factor**2, kernel_size=1)

    def forward(self, z: Tensor) -> Tensor:
        """Decode; no clamp is applied, callers map ``[-1, 1]`` to pixels and clip."""
        out = self._deep(z)
        if self.patch_skip is not None:
            out = out + F.pixel_shuffle(self.patch_skip(z), self.factor)
        return out

    def _deep(self, z: Tensor) -> Tensor:
        h = self.mid(self.conv_in(z))
        for i in reversed(range(len(self.up))):
            level = self.up[i]
            for block in level.block:
                h = block(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class AutoEncoder(nn.Module):
    """FLUX.1 autoencoder with BAGEL's latent scaling; ``state_dict()`` matches ``ae.safetensors`` key for key.

    ``encode`` returns ``scale_factor * (z - shift_factor)`` and ``decode`` inverts that affine map
    before running the decoder, so callers only ever see the scaled latents the LLM works with.
    """

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else VAEConfig()
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)

    @property
    def downsample(self) -> int:
        """Pixels per latent cell along a side (``2 ** (len(ch_mult) - 1)``, 8 for FLUX)."""
        return self.config.downsample

    @property
    def scale_factor(self) -> float:
        """Multiplier applied to the shifted latent (0.3611 for FLUX.1)."""
        return self.config.scale_factor

    @property
    def shift_factor(self) -> float:
        """Offset subtracted from the raw latent before scaling (0.1159 for FLUX.1)."""
        return self.config.shift_factor

    def _param_dtype(self, fallback: torch.dtype) -> torch.dtype:
        # Inputs follow the weights' dtype (e.g. a bf16 checkpoint) so callers can pass float32 images.
        p = next(self.parameters(), None)
        return fallback if p is None else p.dtype

    def _check_image(self, x: Tensor) -> None:
        if x.ndim != 4:
            raise AutoEncoderInputError(f"expected an image batch B x C x H x W, got shape {tuple(x.shape)}")
        if x.shape[1] != self.config.in_channels:
            raise AutoEncoderInputError(
                f"expected {self.config.in_channels} image channels, got {x.shape[1]} (shape {tuple(x.shape)})"
            )
        f = self.downsample
        h, w = x.shape[-2:]
        if h % f or w % f:
            raise AutoEncoderInputError(
                f"image size {h}x{w} is not a multiple of the autoencoder's downsample factor {f}; "
                f"resize or pad to e.g. {-(-h // f) * f}x{-(-w // f) * f}"
            )

    def moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and clamped log-variance of ``x`` (``B x 3 x H x W`` in [-1, 1]), both unscaled."""
        self._check_image(x)
        mom = self.encoder(x.to(self._param_dtype(x.dtype)))
        mean, logvar = torch.chunk(mom, 2, dim=1)
        return mean, torch.clamp(logvar, LOGVAR_MIN, LOGVAR_MAX)

    def encode(self, x: Tensor, sample: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """Encode images in [-1, 1] to scaled latents ``B x z_channels x H/f x W/f``.

        ``sample=False`` (our default) uses the posterior mean, so the same image always gives the same
        latent. BAGEL itself samples ``mean + exp(0.5 * logvar) * eps`` even at inference; pass
        ``sample=True`` (and a seeded ``generator`` for reproducibility) to match it. The FLUX posterior
        is very narrow, so the two differ only slightly.

        Raises:
            AutoEncoderInputError: (a ``ValueError``) if ``x`` is not ``B x in_channels x H x W`` with
                H and W multiples of :attr:`downsample`.
        """
        mean, logvar = self.moments(x)
        z = mean
        if sample:
            # randn on the generator's device first: torch.randn_like cannot take a generator.
            eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
            z = mean + torch.exp(0.5 * logvar) * eps
        return self.scale_factor * (z - self.shift_factor)

    def decode(self, z: Tensor) -> Tensor:
        """Decode scaled latents (as returned by :meth:`encode`) to images, nominally in [-1, 1], unclamped."""
        if z.ndim != 4 or z.shape[1] != self.config.z_channels:
            raise AutoEncoderInputError(
                f"expected latents B x {self.config.z_channels} x h x w, got shape {tuple(z.shape)}"
            )
        z = z.to(self._param_dtype(z.dtype))
        return self.decoder(z / self.scale_factor + self.shift_factor)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruct ``x`` through the posterior mean: ``decode(encode(x))``."""
        return self.decode(self.encode(x))

    def num_parameters(self) -> ParamCount:
        """Element counts of all parameters, and of the encoder and decoder separately (works on ``meta``)."""
        enc = sum(p.numel() for p in self.encoder.parameters())
        dec = sum(p.numel() for p in self.decoder.parameters())
        return ParamCount(total=sum(p.numel() for p in self.parameters()), encoder=enc, decoder=dec)
