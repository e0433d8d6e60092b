"""Views of the meetings feature."""

from esp_coord.meetings import bp  # noqa: F401
