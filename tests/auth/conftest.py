import pytest


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app):
    """Flask-Limiter's memory storage lives as long as the app: start every test with empty counters."""
    from esp_coord.core.extensions import limiter

    limiter.reset()
    yield
    limiter.reset()
