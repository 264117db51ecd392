"""ossr-images: archive container images on Zenodo with verified links to their source."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ossr-images")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
