"""Views of the funding feature."""

from esp_coord.funding import bp  # noqa: F401
