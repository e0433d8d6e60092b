"""Translation catalogs: one per feature package (esp_coord/<feature>/translations) plus the core one.

Flask-Babel merges every directory listed in BABEL_TRANSLATION_DIRECTORIES, so each feature owns
its catalog. Source strings (msgids) are English; French is the only shipped locale.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent


def translation_directories() -> list[str]:
    dirs = [str(PACKAGE / "translations")]
    dirs += sorted(str(p) for p in PACKAGE.glob("*/translations") if p.is_dir())
    return dirs
