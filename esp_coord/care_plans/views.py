"""Views of the care_plans feature."""

from esp_coord.care_plans import bp  # noqa: F401
