"""Views of the reports feature."""

from esp_coord.reports import bp  # noqa: F401
