"""Views of the activity feature."""

from esp_coord.activity import bp  # noqa: F401
