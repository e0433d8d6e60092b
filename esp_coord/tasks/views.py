"""Views of the tasks feature."""

from esp_coord.tasks import bp  # noqa: F401
