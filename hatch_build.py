"""Hatchling build hook: resources and compiled French catalogs in the wheel.

Regular wheels get the top-level folders templates/ static/ migrations/ config/ as
`esp_coord/_resources/<folder>` (found by `esp_coord.resources.resource_path`). Editable installs do not:
their package is the checkout, which resource_path() reads directly (a copy would go stale).

Every catalog (esp_coord/**/translations/fr/LC_MESSAGES/messages.po) is compiled:

`.mo` files are build artefacts (not committed, see .gitignore), so a wheel built from a clean checkout
must compile them itself:

- regular wheel: compiled into a temporary directory and force-included next to their `.po`;
- editable install (`pip install -e .`, `make install`): compiled in place in the checkout, because the
  editable package *is* the checkout. A fresh clone therefore serves French right after `pip install -e .`,
  before any `scripts/i18n.py compile`. After editing a `.po`, `make translations` (run by `make run`
  and `make test`) recompiles; the app itself never writes into its package.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def compile_catalogs(root: Path, out: Path) -> list[Path]:
    """Compile each `.po` under root/esp_coord into out/<same relative path>.mo; return the relative paths."""
    written = []
    for po in sorted((root / "esp_coord").glob("**/translations/*/LC_MESSAGES/*.po")):
        rel = po.relative_to(root).with_suffix(".mo")
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as fh:
            catalog = read_po(fh)
        with target.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        written.append(rel)
    if not written:
        raise RuntimeError(f"no translation catalog found under {root / 'esp_coord'}")
    return written


RESOURCE_FOLDERS = ("templates", "static", "migrations", "config")  # = esp_coord.resources.RESOURCES


class ResourcesBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        if version == "editable":
            compile_catalogs(root, root)
            return
        for folder in RESOURCE_FOLDERS:
            build_data["force_include"][str(root / folder)] = f"esp_coord/_resources/{folder}"
        self._tmp = Path(tempfile.mkdtemp(prefix="esp-coord-mo-"))
        for rel in compile_catalogs(root, self._tmp):
            build_data["force_include"][str(self._tmp / rel)] = rel.as_posix()

    def finalize(self, version: str, build_data: dict, artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
