"""Views of the protocols feature."""

from esp_coord.protocols import bp  # noqa: F401
