"""The unified model: BAGEL's Mixture-of-Transformers with an IQA expert and a restoration expert.

One file per component: ``config`` (sizes and JSON files), ``mot`` (the two-expert Qwen2 decoder),
``siglip`` (understanding ViT), ``autoencoder`` (FLUX VAE), ``vae`` (the one factory every other module
builds, loads and saves the VAE through: swap the VAE there), ``embeddings`` (connector, timestep and
position tables), ``packing`` (interleaved sequences and masks), ``flow`` (rectified flow and
guidance), ``unified`` (the whole model), ``tokenizer``, ``loading`` (strict, lazy safetensors loading),
``checkpoint`` (both folder formats), ``random_init`` and ``inspect``.
"""

from uare.model.config import UAREConfig, bagel_7b, micro, preset, tiny
from uare.model.unified import Context, UAREModel

__all__ = ["Context", "UAREConfig", "UAREModel", "bagel_7b", "micro", "preset", "tiny"]
