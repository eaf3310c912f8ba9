"""Ticket kinds: the one home of what snowbot knows about a kind of ServiceNow ticket.

A `TicketKind` holds a ticket table's facts: its table, number prefix, state codes and their labels, which
states count as resolved and which drop journal writes, how it is resolved (the state and fields of the
resolve PATCH), the urgency/impact levels and the priority lookup. The client, storage, the sync and the
Slack surface read these facts from here rather than spelling them out again. A new kind starts as one
more `TicketKind` in `KINDS`; docs/architecture.md ("Adding things") lists what else it needs.

Incident facts: ServiceNow's incident state model (New 1, In Progress 2, On Hold 3, Resolved 6, Closed 7,
Canceled 8; the spec's "ServiceNow State Mappings"), the resolve rule (state 6 with close_code and
close_notes, the close-code data policy), the default Priority Lookup (impact + urgency - 1, 1 Critical to
5 Planning) and the default category list's "inquiry" (../shared/reference/servicenow-table-api.md §7, §8).

Problem facts (table `problem`, PRB): the state model since Madrid (com.snc.best_practice.problem.madrid.
state_model): New 101, Assess 102, Root Cause Analysis 103, Fix in Progress 104, Resolved 106, Closed 107
(ansible-collections/servicenow.itsm `plugins/module_utils/problem.py` STATE_MAPPING; ServiceNowDocs
`it-service-management/problem-management/problem-mgmt-lifecycle.md`). Resolving sets Resolved with the
resolution code "Fix Applied" (`resolve-and-complete-problem.md`); the data policy then wants cause_notes
and fix_notes (servicenow.itsm `plugins/modules/problem.py` validate_params, after the Madrid release
notes: fix_applied -> cause_notes, fix_notes; risk_accepted -> cause_notes, close_notes; canceled ->
close_notes; duplicate -> duplicate_of; every state past New -> assigned_to). `problem_state` mirrors
`state`, and servicenow.itsm sends it because a bare `state` change is sometimes ignored. A Problem is
canceled as Closed with resolution code `canceled`, so no state alone means canceled. Impact and urgency
as an incident's; priority by the same lookup; categories software, hardware, network, database
(`problem-form.md`).

Defect (`rm_defect`, DFCT) and Enhancement (`rm_enhancement`, ENHC), the Agile Development tables (plugin
com.snc.sdlc.agile.2.0; without it the Table API answers 400 "Invalid table rm_defect"): they extend
rm_task, whose states are Pending -5, Open 1, Work in Progress 2, Closed Complete 3, Closed Incomplete 4,
Closed Skipped 7 (ServiceNowDocs `release-management/default-state-categories-for-release-and-release-
task-tables.md`: close_states 3, 4, 7; default_close_state 3; skipped_states 4, 7; public clients query open
defects with `stateNOT IN3,7`). Agile 2.0's forms label them Draft, Work in progress, Closed Complete,
Cancelled (`agile-development/create-defect-report.md`, `create-enhancement-request.md`); the form has
Priority, not impact and urgency, and no category. Resolving closes them (3, Closed Complete) with
close_notes; there is no resolution code. The prefixes are as public records show them (DFCT0010961,
ENHC0010661 beside STRY0019590). These tables hold no correlation fields of their own, but task's
`correlation_id` is inherited by every task table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class TicketKind:
    """One kind of ServiceNow ticket (see the module docstring)."""

    name: str
    """snowbot's name for the kind (`incident`), stored on each link as its `ticket_kind`."""
    table: str
    """The Table API table (`incident`)."""
    label: str
    """What people read (`Incident`)."""
    number_prefix: str
    """The prefix of the kind's numbers (`INC`), followed by 7 or more digits."""
    states: MappingProxyType[str, str]
    """State code -> label."""
    resolved_states: frozenset[str]
    """States in which the ticket is done (resolved, closed or canceled): it is not resolved again."""
    no_journal_states: frozenset[str]
    """States in which a journal write may be dropped silently: no note is written or counted there."""
    resolve_state: str
    """The state a resolve PATCH sets."""
    ticket_type: str = ""
    """The REST API's name of the kind (`incident`, `problem`, `defect`, `enhancement`); `name` when blank."""
    canceled_states: frozenset[str] = frozenset()
    """Resolved states that mean the work was abandoned, not done (an incident's Canceled): snowbot's sync
    back archives no anomaly for them (`bot.sync.back`)."""
    close_code_field: str | None = "close_code"
    """The resolution code's field (None: the kind has none)."""
    default_close_code: str = "Solution provided"
    """The code used when the instance's list cannot be read."""
    close_notes_fields: tuple[str, ...] = ("close_notes",)
    """The fields the resolve PATCH fills with snowbot's notes (a Problem's data policy wants two)."""
    resolve_extra: tuple[tuple[str, str], ...] = ()
    """More fields of the resolve PATCH (a Problem's `problem_state`)."""
    create_fields: frozenset[str] = frozenset(
        "urgency impact category subcategory assignment_group assigned_to caller_id".split()
    )
    """The create form's optional fields the table has."""
    computes_priority: bool = True
    """The instance computes priority from impact and urgency (else snowbot sends `priority` itself)."""
    record_fields: tuple[str, ...] = ()
    """Fields of the table besides the incident's that snowbot reads or queries."""
    levels: tuple[tuple[str, str], ...] = (("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low"))
    """Urgency and impact codes and labels."""
    priorities: MappingProxyType[int, str] = field(
        default_factory=lambda: MappingProxyType(
            {1: "1 - Critical", 2: "2 - High", 3: "3 - Moderate", 4: "4 - Low", 5: "5 - Planning"}
        )
    )
    """Priority code -> label."""
    default_category: str = "inquiry"
    """The category the instance's default list puts first (the parent of free-text subcategories)."""

    @property
    def number_pattern(self) -> re.Pattern[str]:
        """A whole ticket number of this kind, case-insensitive (`INC0010001`)."""
        return re.compile(rf"^{self.number_prefix}\d{{7,12}}$", re.IGNORECASE)

    @property
    def number_in_text(self) -> re.Pattern[str]:
        """A number of this kind anywhere in a text (`INC0010001 created ...`)."""
        return re.compile(rf"\b{self.number_prefix}\d{{7,12}}\b", re.IGNORECASE)

    def state_label(self, code: str, fallback: str | None = None) -> str:
        """`"1"` -> `"New"`; an unknown code keeps the instance's own label (or `Unknown (<code>)`)."""
        return self.states.get(code) or fallback or f"Unknown ({code})"

    @property
    def no_journal_labels(self) -> frozenset[str]:
        return frozenset(self.state_label(code) for code in self.no_journal_states)

    def priority_for(self, urgency: str | int, impact: str | int) -> tuple[int, str]:
        """ServiceNow's default Priority Lookup: 1+1 -> 1 Critical ... 3+3 -> 5 Planning."""
        try:
            value = int(impact) + int(urgency) - 1
        except (TypeError, ValueError):
            value = 5
        value = min(max(value, 1), 5)
        return value, self.priorities[value]

    @property
    def type_name(self) -> str:
        """The REST API's `ticket_type` of the kind."""
        return self.ticket_type or self.name

    @property
    def has_categories(self) -> bool:
        return "category" in self.create_fields

    @property
    def has_levels(self) -> bool:
        """Impact and urgency are fields of the kind's form."""
        return "urgency" in self.create_fields

    def resolve_fields(self, close_code: str, close_notes: str) -> dict[str, str]:
        """The fields of the PATCH that resolves a ticket of this kind."""
        body = {"state": self.resolve_state, **dict(self.resolve_extra)}
        if self.close_code_field:
            body[self.close_code_field] = close_code
        body.update(dict.fromkeys(self.close_notes_fields, close_notes))
        return body


INCIDENT: Final = TicketKind(
    name="incident",
    table="incident",
    label="Incident",
    number_prefix="INC",
    states=MappingProxyType(
        {"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed", "8": "Canceled"}
    ),
    resolved_states=frozenset({"6", "7", "8"}),
    no_journal_states=frozenset({"7", "8"}),
    resolve_state="6",
    canceled_states=frozenset({"8"}),
)

PROBLEM: Final = TicketKind(
    name="problem",
    table="problem",
    label="Problem",
    number_prefix="PRB",
    states=MappingProxyType(
        {
            "101": "New",
            "102": "Assess",
            "103": "Root Cause Analysis",
            "104": "Fix in Progress",
            "106": "Resolved",
            "107": "Closed",
        }
    ),
    resolved_states=frozenset({"106", "107"}),
    no_journal_states=frozenset({"107"}),
    resolve_state="106",
    close_code_field="resolution_code",
    default_close_code="fix_applied",
    close_notes_fields=("cause_notes", "fix_notes"),
    resolve_extra=(("problem_state", "106"),),
    create_fields=frozenset("urgency impact category subcategory assignment_group assigned_to".split()),
    default_category="software",
    record_fields=("problem_state", "resolution_code", "cause_notes", "fix_notes"),
)

_RM_STATES = MappingProxyType(
    {
        "-5": "Pending",
        "1": "Open",
        "2": "Work in Progress",
        "3": "Closed Complete",
        "4": "Closed Incomplete",
        "7": "Closed Skipped",
    }
)


def _agile(*, table: str, label: str, prefix: str, ticket_type: str) -> TicketKind:
    """A kind of the Agile Development plugin: rm_task's states (see the module docstring)."""
    return TicketKind(
        name=table,
        table=table,
        label=label,
        number_prefix=prefix,
        ticket_type=ticket_type,
        states=_RM_STATES,
        resolved_states=frozenset({"3", "4", "7"}),
        no_journal_states=frozenset({"3", "4", "7"}),
        resolve_state="3",
        canceled_states=frozenset({"4", "7"}),
        close_code_field=None,
        create_fields=frozenset({"assignment_group", "assigned_to"}),
        computes_priority=False,
    )


DEFECT: Final = _agile(table="rm_defect", label="Defect", prefix="DFCT", ticket_type="defect")
ENHANCEMENT: Final = _agile(
    table="rm_enhancement", label="Enhancement", prefix="ENHC", ticket_type="enhancement"
)

KINDS: Final = MappingProxyType({kind.name: kind for kind in (INCIDENT, PROBLEM, DEFECT, ENHANCEMENT)})
"""Every kind snowbot knows, by name."""
TICKET_TYPES: Final = MappingProxyType({kind.type_name: kind for kind in KINDS.values()})
"""Every kind by its REST `ticket_type` (`incident`, `problem`, `defect`, `enhancement`)."""
DEFAULT_KIND: Final = INCIDENT


def kind_named(name: str | None) -> TicketKind:
    """The kind called `name` (None: the default, incident); KeyError for a kind snowbot does not know."""
    return DEFAULT_KIND if name is None else KINDS[name]


def kind_of_type(ticket_type: str | None) -> TicketKind:
    """The kind a REST `ticket_type` (or a kind's own name) names; None: incident. KeyError otherwise."""
    if ticket_type is None:
        return DEFAULT_KIND
    text = ticket_type.strip().lower()
    return TICKET_TYPES.get(text) or KINDS[text]


def kind_of_prefix(text: str) -> TicketKind | None:
    """The kind whose numbers begin like `text` (`PRB001`, `dfct`), if any."""
    return next(
        (
            kind
            for kind in KINDS.values()
            if re.fullmatch(rf"{kind.number_prefix}\d{{0,12}}", text.strip(), re.IGNORECASE)
        ),
        None,
    )


def kind_of_number(number: str) -> TicketKind | None:
    """The kind whose numbers look like `number` (`INC0010001` -> incident), if any."""
    return next((kind for kind in KINDS.values() if kind.number_pattern.match(number.strip())), None)
