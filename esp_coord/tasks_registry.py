"""Import every feature's background job module so the huey consumer knows them."""

import importlib
import importlib.util

from esp_coord import FEATURES

for _name, _prefix in FEATURES:
    _module = f"esp_coord.{_name}.jobs"
    if importlib.util.find_spec(_module) is not None:
        importlib.import_module(_module)
