"""The explicit feature registry: every feature's blueprint, URL prefix and signal receivers.

The app factory registers blueprints and connects receivers from this list, in this order; nothing is
discovered by walking packages or by importing modules for their side effects. Adding a feature means
adding one line here (see docs/DEVELOPING.md, "Adding a feature").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint

from esp_coord.activity import views as activity_views
from esp_coord.auth import views as auth_views
from esp_coord.calendar_feeds import receivers as calendar_feeds_receivers
from esp_coord.calendar_feeds import views as calendar_feeds_views
from esp_coord.care_plans import receivers as care_plans_receivers
from esp_coord.care_plans import views as care_plans_views
from esp_coord.dashboard import views as dashboard_views
from esp_coord.funding import receivers as funding_receivers
from esp_coord.funding import views as funding_views
from esp_coord.meetings import receivers as meetings_receivers
from esp_coord.meetings import views as meetings_views
from esp_coord.patients import views as patients_views
from esp_coord.protocols import receivers as protocols_receivers
from esp_coord.protocols import views as protocols_views
from esp_coord.reports import receivers as reports_receivers
from esp_coord.reports import views as reports_views
from esp_coord.tasks import receivers as tasks_receivers
from esp_coord.tasks import views as tasks_views
from esp_coord.teams import views as teams_views


@dataclass(frozen=True)
class Feature:
    name: str
    blueprint: Blueprint
    url_prefix: str | None
    connect: Callable[[], None] | None = None  # connects the feature's signal receivers


FEATURES: tuple[Feature, ...] = (
    Feature("dashboard", dashboard_views.bp, None),
    Feature("auth", auth_views.bp, None),
    Feature("teams", teams_views.bp, "/equipes"),
    Feature("activity", activity_views.bp, "/actions"),
    Feature("tasks", tasks_views.bp, "/taches", tasks_receivers.connect),
    Feature("patients", patients_views.bp, "/patients"),
    Feature("meetings", meetings_views.bp, "/reunions", meetings_receivers.connect),
    Feature("calendar_feeds", calendar_feeds_views.bp, "/agenda", calendar_feeds_receivers.connect),
    Feature("care_plans", care_plans_views.bp, "/pps", care_plans_receivers.connect),
    Feature("protocols", protocols_views.bp, "/protocoles", protocols_receivers.connect),
    Feature("funding", funding_views.bp, "/financement", funding_receivers.connect),
    Feature("reports", reports_views.bp, "/rapports", reports_receivers.connect),
)
