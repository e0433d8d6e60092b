"""Import every model so Alembic and create_all() (tests only) see the whole schema."""

import importlib
import importlib.util

from esp_coord import FEATURES
from esp_coord.core.audit import AuditEvent, AuditHead  # noqa: F401

for _name, _prefix in FEATURES:
    _module = f"esp_coord.{_name}.models"
    if importlib.util.find_spec(_module) is not None:
        importlib.import_module(_module)
