"""Image and file input/output: robust reading, atomic writing, folder listing."""

from uare.io.atomic import atomic_path, write_json_atomic
from uare.io.folders import IMAGE_EXTENSIONS, is_image_name, iter_inputs, left_out
from uare.io.image import (
    DEFAULT_MAX_PIXELS,
    WRITE_FORMATS,
    LoadedImage,
    orient,
    output_format,
    read_image,
    to_uint8,
    write_image,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "left_out",
    "WRITE_FORMATS",
    "LoadedImage",
    "atomic_path",
    "is_image_name",
    "iter_inputs",
    "orient",
    "output_format",
    "read_image",
    "to_uint8",
    "write_image",
    "write_json_atomic",
]
