"""Import every model so Alembic and create_all() (tests only) see the whole schema."""

import importlib
import importlib.util

from esp_coord.core.audit import AuditEvent, AuditHead  # noqa: F401
from esp_coord.features import FEATURES

for _feature in FEATURES:
    _name = _feature.name
    _module = f"esp_coord.{_name}.models"
    if importlib.util.find_spec(_module) is not None:
        importlib.import_module(_module)
