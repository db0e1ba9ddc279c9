"""uare: a unified model for image quality assessment, restoration and enhancement."""

__version__ = "0.1.0"
