"""Views of the calendar_feeds feature."""

from esp_coord.calendar_feeds import bp  # noqa: F401
