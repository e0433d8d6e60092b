"""Views of the teams feature."""

from esp_coord.teams import bp  # noqa: F401
