"""Translation catalogs, one per feature (esp_coord/<feature>/translations) plus core.

    python scripts/i18n.py update [FEATURE ...]   extract msgids and merge them into fr .po (no fuzzy)
    python scripts/i18n.py compile                 compile every catalog (.mo are not committed)
    python scripts/i18n.py check                   fail if a msgid is untranslated or fuzzy, or a
                                                   source string is missing from its catalog

Sources of a feature: esp_coord/<feature>/**.py and templates/<feature>/**.html.
Core: esp_coord/*.py, esp_coord/{core,ops,demo}/**.py, templates/*.html, templates/_macros, errors, pdf, emails.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "esp_coord"


# Packages that are not features: their strings belong to the core catalog.
CORE_PACKAGES = ("core", "ops", "demo")


def features() -> list[str]:
    return ["core"] + sorted(p.parent.name for p in PKG.glob("*/__init__.py") if p.parent.name not in CORE_PACKAGES)


def catalog_dir(feature: str) -> Path:
    return PKG / "translations" if feature == "core" else PKG / feature / "translations"


def mapping(feature: str) -> str:
    if feature == "core":
        return (
            "[python: esp_coord/*.py]\n[python: esp_coord/core/**.py]\n"
            "[python: esp_coord/ops/**.py]\n[python: esp_coord/demo/**.py]\n"
            "[jinja2: templates/*.html]\n[jinja2: templates/_macros/*.html]\n"
            "[jinja2: templates/errors/*.html]\n[jinja2: templates/pdf/*.html]\n"
        )
    return (f"[python: esp_coord/{feature}/*.py]\n[python: esp_coord/{feature}/**.py]\n"
            f"[jinja2: templates/{feature}/*.html]\n[jinja2: templates/{feature}/**.html]\n")


def pybabel(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", *args], check=True, cwd=ROOT)


def extract(feature: str, pot: Path) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as cfg:
        cfg.write(mapping(feature))
    # babel skips directories starting with "_" while walking: name those files explicitly
    extra = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "templates" / "_macros").glob("*.html")) \
        if feature == "core" else []
    pybabel("extract", "-F", cfg.name, "-k", "_l", "-k", "lazy_gettext", "--no-location", "--sort-output",
            "-o", str(pot), ".", *extra)
    Path(cfg.name).unlink()


def update(names: list[str]) -> None:
    for feature in names or features():
        d = catalog_dir(feature)
        d.mkdir(parents=True, exist_ok=True)
        pot = d / "messages.pot"
        extract(feature, pot)
        po = d / "fr" / "LC_MESSAGES" / "messages.po"
        if po.exists():
            pybabel("update", "--no-fuzzy-matching", "--ignore-obsolete", "-i", str(pot), "-d", str(d), "-l", "fr")
        else:
            pybabel("init", "-i", str(pot), "-d", str(d), "-l", "fr")
        pot.unlink()


def compile_all() -> None:
    for feature in features():
        d = catalog_dir(feature)
        if (d / "fr" / "LC_MESSAGES" / "messages.po").exists():
            pybabel("compile", "-d", str(d), "-l", "fr")


def check() -> int:
    from babel.messages.pofile import read_po

    problems = []
    for feature in features():
        d = catalog_dir(feature)
        po_path = d / "fr" / "LC_MESSAGES" / "messages.po"
        with tempfile.TemporaryDirectory() as tmp:
            pot = Path(tmp) / "messages.pot"
            extract(feature, pot)
            with pot.open("rb") as fh:
                wanted = {m.id for m in read_po(fh) if m.id}
        if not wanted:
            continue
        if not po_path.exists():
            problems.append(f"{feature}: no catalog for {len(wanted)} strings")
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh)
        have = {m.id: m for m in catalog if m.id}
        for msgid in sorted(wanted, key=str):
            m = have.get(msgid)
            if m is None:
                problems.append(f"{feature}: missing {msgid!r}")
            elif m.fuzzy or not (m.string if isinstance(m.string, str) else all(m.string)):
                problems.append(f"{feature}: untranslated or fuzzy {msgid!r}")
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    cmd, *rest = sys.argv[1:] or ["check"]
    if cmd == "update":
        update(rest)
    elif cmd == "compile":
        compile_all()
    elif cmd == "check":
        sys.exit(check())
    else:
        sys.exit(__doc__)
