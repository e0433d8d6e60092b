"""Where the app's non-Python resources live: templates/, static/, migrations/, config/.

In the checkout (development, editable install) they are the top-level folders of the repository. In a
wheel the build copies them into the package as ``esp_coord/_resources/<name>`` (pyproject.toml,
``[tool.hatch.build.targets.wheel.force-include]``), found here through ``importlib.resources``.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path


class ConfigurationError(RuntimeError):
    """Raised when the installation or configuration is unusable; message is one line, French / English."""


RESOURCES = ("templates", "static", "migrations", "config")
CHECKOUT = Path(__file__).resolve().parent.parent


def resource_path(name: str) -> Path:
    """Directory of resource `name` (one of RESOURCES): the installed copy, else the checkout's folder."""
    if name not in RESOURCES:
        raise ValueError(f"unknown resource {name!r}")
    installed = resources.files("esp_coord") / "_resources" / name
    if installed.is_dir():
        # wheels install as plain files: the Traversable is a real directory Flask and Alembic can use
        return Path(str(installed))
    checkout = CHECKOUT / name
    if checkout.is_dir():
        return checkout
    raise ConfigurationError(
        f"Dossier « {name} » introuvable (ni {installed}, ni {checkout}) : installation incomplète, "
        "réinstallez le paquet esp_coord (wheel) ou lancez depuis le dépôt"
    )


def installed() -> bool:
    """True when running from an installed wheel (resources inside the package), False from a checkout."""
    return (resources.files("esp_coord") / "_resources").is_dir()


def default_instance_path() -> Path:
    """Flask's default instance folder for this package: `instance/` of the checkout, or
    `<prefix>/var/esp_coord-instance` for an installed wheel (for what must exist before the app, e.g. the
    huey queue file)."""
    return Path(sys.prefix) / "var" / "esp_coord-instance" if installed() else CHECKOUT / "instance"
