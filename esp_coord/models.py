"""Every model of the app, imported explicitly so Alembic (migrations/env.py) and create_all() (tests only)
see the whole schema. A new feature with tables adds its models module here."""

import esp_coord.activity.models  # noqa: F401
import esp_coord.auth.models  # noqa: F401
import esp_coord.calendar_feeds.models  # noqa: F401
import esp_coord.care_plans.models  # noqa: F401
import esp_coord.funding.models  # noqa: F401
import esp_coord.meetings.models  # noqa: F401
import esp_coord.patients.key_store  # noqa: F401
import esp_coord.patients.models  # noqa: F401
import esp_coord.protocols.models  # noqa: F401
import esp_coord.reports.models  # noqa: F401
import esp_coord.tasks.models  # noqa: F401
import esp_coord.teams.models  # noqa: F401
from esp_coord.core.audit import AuditEvent, AuditHead  # noqa: F401
