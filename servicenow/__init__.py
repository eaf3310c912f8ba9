"""snowbot's ServiceNow side: a Table API client, its models, errors, retry policy and query builder.

async with ServiceNowClient.connect(url, parse_credentials("user:pass")) as sn:
    incident = await sn.create_incident({"short_description": "...", "correlation_id": "..."})
"""

from __future__ import annotations

from servicenow.client import ServiceNowClient
from servicenow.config import Credentials, parse_credentials, validate_instance_url
from servicenow.models import Choice, Group, Incident, IncidentPage, JournalEntry, Reference, User
from servicenow.retry import RetryPolicy

__all__ = [
    "Choice",
    "Credentials",
    "Group",
    "Incident",
    "IncidentPage",
    "JournalEntry",
    "Reference",
    "RetryPolicy",
    "ServiceNowClient",
    "User",
    "parse_credentials",
    "validate_instance_url",
]
