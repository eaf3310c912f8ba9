"""Ticket kinds: the one home of what snowbot knows about a kind of ServiceNow ticket.

A `TicketKind` holds a ticket table's facts: its table, number prefix, state codes and their labels, which
states count as resolved and which drop journal writes, how it is resolved (the state and fields of the
resolve PATCH), the urgency/impact levels and the priority lookup. The client, storage, the sync and the
Slack surface read these facts from here rather than spelling them out again. A new kind (Problem,
Defect, Enhancement) starts as one more `TicketKind` in `KINDS`; docs/architecture.md ("Adding things")
lists what still assumes the incident table.

Incident facts: ServiceNow's incident state model (New 1, In Progress 2, On Hold 3, Resolved 6, Closed 7,
Canceled 8; the spec's "ServiceNow State Mappings"), the resolve rule (state 6 with close_code and
close_notes, the close-code data policy), the default Priority Lookup (impact + urgency - 1, 1 Critical to
5 Planning) and the default category list's "inquiry" (../shared/reference/servicenow-table-api.md §7, §8).
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
    canceled_states: frozenset[str] = frozenset()
    """Resolved states that mean the work was dropped, not done (an incident's Canceled): snowbot's
    sync back archives no anomaly for them (`bot.sync.back`)."""
    close_code_field: str = "close_code"
    close_notes_field: str = "close_notes"
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

    def resolve_fields(self, close_code: str, close_notes: str) -> dict[str, str]:
        """The fields of the PATCH that resolves a ticket of this kind."""
        return {
            "state": self.resolve_state,
            self.close_code_field: close_code,
            self.close_notes_field: close_notes,
        }


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

KINDS: Final = MappingProxyType({INCIDENT.name: INCIDENT})
"""Every kind snowbot knows, by name."""
DEFAULT_KIND: Final = INCIDENT


def kind_named(name: str | None) -> TicketKind:
    """The kind called `name` (None: the default, incident); KeyError for a kind snowbot does not know."""
    return DEFAULT_KIND if name is None else KINDS[name]


def kind_of_number(number: str) -> TicketKind | None:
    """The kind whose numbers look like `number` (`INC0010001` -> incident), if any."""
    return next((kind for kind in KINDS.values() if kind.number_pattern.match(number.strip())), None)
