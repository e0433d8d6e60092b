"""Import every feature's background job module so the huey consumer knows them."""

import importlib
import importlib.util

from esp_coord.features import FEATURES

for _feature in FEATURES:
    _name = _feature.name
    _module = f"esp_coord.{_name}.jobs"
    if importlib.util.find_spec(_module) is not None:
        importlib.import_module(_module)
