"""From use-case results to the inputs of the Block Kit builders (`bot.slack.blocks`): pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot.models import FormSpecification
from bot.slack import blocks
from bot.usecases import AnomalyCard, Instance, Overview, SyncHealth, TicketDraft
from bot.usecases.unfurls import AnomalyPreview, Preview
from qualytics_api import Anomaly
from servicenow.kinds import INCIDENT, kind_of_type
from storage.integrations import Integration

if TYPE_CHECKING:
    from bot.doctor import Report

DEFAULT_CATEGORY = INCIDENT.default_category
"""ServiceNow's default incident category: the create modal starts with it when the instance has it."""

RECONNECT_ADVICE = (
    "An admin can connect again with `/snow connect` (instance URL https://your-instance.service-now.com, "
    "an active integration user with the itil role)."
)
CONNECT_ADVICE = (
    "Check the instance URL (https://your-instance.service-now.com), the user name and password, and that "
    "the integration user is active, not locked, and has the itil role. A developer instance may be "
    "hibernating: wake it up in the developer portal."
)


def anomaly_summary(anomaly: Anomaly) -> blocks.AnomalySummary:
    return blocks.AnomalySummary(
        id=anomaly.id,
        type=anomaly.type or "record",
        status=anomaly.status,
        container=anomaly.container.name if anomaly.container else None,
        datastore=anomaly.datastore.name or None,
        failed_checks=[check.message for check in anomaly.failed_checks],
        description=anomaly.description or None,
        weight=anomaly.weight,
    )


def anomaly_card(card: AnomalyCard) -> blocks.Message:
    return blocks.anomaly_alert_message(
        anomaly_summary(card.anomaly), card.url, card.links, card.instances, occurrences=card.occurrences
    )


def instance_choices(instances: Sequence[Instance]) -> list[blocks.Choice]:
    """The instance select's options: value the integration id, label its name (the default marked)."""
    return [blocks.Choice(str(i.id), f"{i.name} (default)" if i.is_default else i.name) for i in instances]


def chosen_instance(instances: Sequence[Instance], integration_id: int | None) -> int | None:
    """The integration a modal is for when it offers a choice: the one asked for, else the default;
    None when there is nothing to choose (the default is used, as with one instance)."""
    if len(instances) < 2:
        return None
    if integration_id is not None and any(i.id == integration_id for i in instances):
        return integration_id
    return next((i.id for i in instances if i.is_default), instances[0].id)


def choices(form: FormSpecification, name: str, parent: str | None = None) -> list[blocks.Choice]:
    """A choice field's options ([] when the instance's list could not be read: free text then); for a
    dependent field only those of `parent` (the kind's default category when None); [] for a field the
    kind's form does not have."""
    if not any(field.name == name for field in form.fields):
        return []
    spec = form.field(name)
    wanted = parent or kind_of_type(form.ticket_type).default_category
    return [
        blocks.Choice(option.value, option.label)
        for option in spec.options or []
        if spec.depends_on is None or (option.dependent_value or wanted) == wanted
    ]


def create_modal(draft: TicketDraft, metadata: blocks.ModalMetadata) -> blocks.View:
    kind = kind_of_type(draft.form.ticket_type)
    categories = choices(draft.form, "category")
    default = kind.default_category
    category = default if any(c.value == default for c in categories) else None
    chosen = chosen_instance(draft.instances, draft.integration_id)
    return blocks.create_incident_modal(
        anomaly_summary(draft.anomaly),
        replace(metadata, caller=draft.caller.sys_id if draft.caller else None, integration_id=chosen),
        description=draft.description,
        categories=categories,
        subcategories=choices(draft.form, "subcategory", category) if categories else [],
        category=category,
        choices_hint=draft.choices_hint,
        instances=instance_choices(draft.instances),
        recurrence_hint=draft.recurrence_hint,
        kind=blocks.CreateKind(
            ticket_type=kind.type_name,
            label=kind.label,
            levels=kind.has_levels,
            categorized=kind.has_categories,
            offered=tuple((known.type_name, known.label) for known in draft.kinds),
            hint=draft.kinds_hint,
        ),
    )


def link_modal(
    anomaly_id: int | None, metadata: blocks.ModalMetadata, instances: Sequence[Instance]
) -> blocks.View:
    """The link modal, with the instance select when several are offered (`metadata.integration_id`, else
    the default, preselected)."""
    chosen = chosen_instance(instances, metadata.integration_id)
    return blocks.link_incident_modal(
        anomaly_id, replace(metadata, integration_id=chosen), instances=instance_choices(instances)
    )


def integration_status(
    found: Sequence[Integration], refused_reads: Sequence[str] = ()
) -> blocks.IntegrationStatus | None:
    current = next((i for i in found if i.is_default), found[0] if found else None)
    if current is None:
        return None
    return blocks.IntegrationStatus(
        status=current.status,
        instance_url=current.instance_url,
        name=current.name,
        error=current.last_error if current.status == "Error" else None,
        advice=RECONNECT_ADVICE if current.status == "Error" else None,
        checked_at=current.last_checked_at,
        refused_reads=tuple(refused_reads),
    )


def sync_health(health: SyncHealth) -> blocks.SyncHealth:
    errors = health.last_run_summary.get("errors")
    last_error = "; ".join(str(e) for e in errors) if isinstance(errors, list) and errors else None
    native = health.last_run_summary.get("native_ticket_links")
    return blocks.SyncHealth(
        pending=health.pending,
        failed=[blocks.FailedSync(reason=line) for line in health.recent_failures],
        last_run_at=health.last_run_at,
        last_run_error=last_error,
        failed_total=health.failed,
        native_ticket_links=[i for i in native if isinstance(i, int)] if isinstance(native, list) else (),
    )


def status_message(overview: Overview, now: datetime, diagnosis: Report | None = None) -> blocks.Message:
    """`/snow status`; `diagnosis` (admins only): `snowbot doctor`'s report below it."""
    return blocks.status_message(
        integration=integration_status(overview.status.integrations, overview.status.refused_reads),
        recent_links=overview.recent_links,
        health=sync_health(overview.status.sync),
        now=now,
        diagnosis=[(check.ok, check.line()) for check in diagnosis.checks] if diagnosis else (),
    )


def home_view(
    overview: Overview,
    now: datetime,
    *,
    is_admin: bool,
    watched_channels: Sequence[str] = (),
    rules: Sequence[blocks.RuleLike] = (),
) -> blocks.View:
    return blocks.app_home_view(
        watched_channels=watched_channels,
        integration=integration_status(overview.status.integrations, overview.status.refused_reads),
        recent_links=overview.recent_links,
        health=sync_health(overview.status.sync),
        now=now,
        is_admin=is_admin,
        extra=blocks.rules_home_blocks(rules),
    )


def unfurls(previews: Mapping[str, Preview]) -> dict[str, blocks.Unfurl]:
    """chat.unfurl's `unfurls` map: each previewed URL -> its compact card."""
    return {url: _unfurl(preview) for url, preview in previews.items()}


def _unfurl(preview: Preview) -> blocks.Unfurl:
    if isinstance(preview, AnomalyPreview):
        return blocks.anomaly_unfurl(anomaly_summary(preview.anomaly), preview.url, preview.tickets)
    ticket = preview.ticket
    template = preview.anomaly_url
    return blocks.ticket_unfurl(
        blocks.TicketUnfurl(
            number=ticket.number,
            kind=preview.kind.label,
            state=ticket.state_label or preview.kind.state_label(ticket.state),
            url=ticket.url,
            short_description=ticket.short_description,
            assignee=ticket.assigned_to.display if ticket.assigned_to else None,
            anomalies=[
                (link.anomaly_id, template.format(id=link.anomaly_id) if template else "")
                for link in preview.anomalies
            ],
        )
    )
