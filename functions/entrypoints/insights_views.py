"""The insights API's responses: JSON views of the typed answers of functions/services/insights.py, and
their JSON Schemas for the OpenAPI document, side by side (the tests validate real responses against them).
"""

from __future__ import annotations

from typing import Any

from functions.domain.accounts import AccountContact
from functions.domain.health import Health
from functions.domain.health_config import HealthConfig
from functions.domain.insights import LastInteraction, NextInteraction, RelationshipKpis
from functions.domain.introductions import IntroductionTemplate
from functions.domain.times import rfc3339
from functions.domain.who_knows_whom import Colleague
from functions.entrypoints.openapi import ACCURACY, GUID, NULLABLE_NUMBER, NULLABLE_STRING, TIME, obj, ref
from functions.services.insight_settings import APPLIES
from functions.services.insights import (
    AccountAnswer,
    IntroductionAnswer,
    RelationshipAnswer,
    WhoKnowsWhomAnswer,
)


def relationship_view(answer: RelationshipAnswer) -> dict[str, Any]:
    return {"contact": answer.contact, **kpis_view(answer.kpis), "health": health_view(answer.health)}


def kpis_view(kpis: RelationshipKpis) -> dict[str, Any]:
    return {
        "emailsSent": kpis.emails_sent,
        "emailsReceived": kpis.emails_received,
        "meetingsSent": kpis.meetings_sent,
        "meetingsReceived": kpis.meetings_received,
        "timeSpentByTeamMinutes": kpis.time_spent_by_team_minutes,
        "timeSpentByCustomerMinutes": kpis.time_spent_by_customer_minutes,
        "averageResponseHoursByUs": kpis.average_response_hours_by_us,
        "averageResponseHoursByThem": kpis.average_response_hours_by_them,
        "responseRateByUs": kpis.response_rate_by_us,
        "responseRateByThem": kpis.response_rate_by_them,
        "lastInteraction": _moment(kpis.last_interaction),
        "nextInteraction": _moment(kpis.next_interaction),
        "timeline": [
            {"weekStart": week.week_start.isoformat(), "emails": week.emails, "meetings": week.meetings}
            for week in kpis.timeline
        ],
        "computedAt": rfc3339(kpis.computed_at),
        "accuracy": kpis.accuracy,
    }


def health_view(health: Health) -> dict[str, Any]:
    components = health.components
    return {
        "score": health.score,
        "grade": health.grade,
        "trend": health.trend,
        "components": None
        if components is None
        else {
            "activity": round(components.activity, 1),
            "recency": round(components.recency, 1),
            "reciprocity": round(components.reciprocity, 1),
        },
        "cadence": health.cadence.to_json(),
    }


def colleague_view(colleague: Colleague) -> dict[str, Any]:
    return {
        "userId": colleague.user_id,
        "displayName": colleague.display_name,
        "address": colleague.address,
        "strength": colleague.strength,
        "band": colleague.band,
        "lastInteraction": rfc3339(colleague.last_interaction_at),
    }


def who_knows_whom_view(answer: WhoKnowsWhomAnswer) -> dict[str, Any]:
    return {
        "contact": answer.contact,
        "colleagues": [colleague_view(c) for c in answer.colleagues],
        "computedAt": rfc3339(answer.computed_at),
        "accuracy": answer.accuracy,
    }


def introduction_view(answer: IntroductionAnswer) -> dict[str, Any]:
    draft = answer.draft
    return {
        "id": answer.id,
        "contact": answer.contact,
        "colleagueUserId": answer.colleague_user_id,
        "requestedAt": rfc3339(answer.requested_at),
        "draft": {"to": draft.to, "subject": draft.subject, "body": draft.body},
    }


def template_view(template: IntroductionTemplate) -> dict[str, Any]:
    return {"subject": template.subject, "body": template.body}


def account_view(answer: AccountAnswer) -> dict[str, Any]:
    account = answer.relationships
    return {
        "domain": answer.domain,
        **kpis_view(account.kpis),
        "health": health_view(account.health),
        "contacts": account.contacts,
        "topContacts": [_account_contact(c) for c in account.top_contacts],
        "topColleagues": [colleague_view(c) for c in account.top_colleagues],
    }


def settings_view(config: HealthConfig, *, changed: bool = False) -> dict[str, Any]:
    body = config.to_json()
    return {**body, "applies": APPLIES} if changed else body


def _moment(moment: LastInteraction | NextInteraction | None) -> dict[str, Any] | None:
    if moment is None:
        return None
    return {"at": rfc3339(moment.at), "kind": moment.kind, "direction": moment.direction}


def _account_contact(contact: AccountContact) -> dict[str, Any]:
    # Addresses are not stored: a contact is named only when the caller named it; otherwise a short, stable
    # key (the start of the hash) tells the contacts apart.
    return {
        "contact": contact.address,
        "contactKey": contact.contact[:16],
        "interactions": contact.interactions,
        "lastInteraction": rfc3339(contact.last_interaction_at),
    }


# --- JSON Schemas ------------------------------------------------------------------------------------------

_COUNT = {"type": "integer", "minimum": 0}
_MOMENT = {
    "type": ["object", "null"],
    "properties": {
        "at": TIME,
        "kind": {"enum": ["email", "meeting"]},
        "direction": {"enum": ["sent", "received"]},
    },
}
_COLLEAGUE = obj(
    {
        "userId": GUID, "displayName": {"type": "string"}, "address": {"type": "string"},
        "strength": {"type": "integer", "minimum": 0, "maximum": 100},
        "band": {"enum": ["strong", "moderate", "weak"]}, "lastInteraction": TIME,
    }
)  # fmt: skip
_CADENCE = {
    "description": "Expected two-way exchanges a week: weekly, fortnightly, monthly, or a number (0.1-10)",
    "oneOf": [
        {"enum": ["weekly", "fortnightly", "monthly"]},
        {"type": "number", "minimum": 0.1, "maximum": 10},
    ],
}
_KPIS: dict[str, Any] = {
    **dict.fromkeys(("emailsSent", "emailsReceived", "meetingsSent", "meetingsReceived"), _COUNT),
    "timeSpentByTeamMinutes": {"type": "number"},
    "timeSpentByCustomerMinutes": {"type": "number"},
    "averageResponseHoursByUs": NULLABLE_NUMBER,
    "averageResponseHoursByThem": NULLABLE_NUMBER,
    "responseRateByUs": NULLABLE_NUMBER,
    "responseRateByThem": NULLABLE_NUMBER,
    "lastInteraction": _MOMENT,
    "nextInteraction": {**_MOMENT, "description": "The earliest meeting ahead with the contact (account)"},
    "timeline": {
        "type": "array", "minItems": 52, "maxItems": 52,
        "items": obj(
            {"weekStart": {"type": "string", "format": "date"}, "emails": _COUNT, "meetings": _COUNT}
        ),
    },
    "computedAt": TIME,
    "accuracy": ACCURACY,
}  # fmt: skip
_HEALTH = obj(
    {
        "score": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
        "grade": {"enum": ["good", "fair", "poor", "not_enough_info"]},
        "trend": {"enum": ["improving", "steady", "declining", None]},
        "components": {
            "type": ["object", "null"],
            "description": "The three sub-scores (0-100) weighted 0.4 / 0.3 / 0.3 into the score",
            "properties": {name: {"type": "number", "minimum": 0, "maximum": 100}
                           for name in ("activity", "recency", "reciprocity")},
        },
        "cadence": _CADENCE,
    }
)  # fmt: skip
_GRADES = obj(
    {grade: {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}
     for grade in ("good", "fair", "poor")}
)  # fmt: skip
_SETTINGS_PROPERTIES: dict[str, Any] = {
    "emailWeight": {"type": "number", "minimum": 0.5, "maximum": 1.5},
    "meetingWeight": {"type": "number", "minimum": 0.5, "maximum": 1.5},
    "grades": _GRADES,
    "cadence": _CADENCE,
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Relationship": obj({"contact": {"type": "string"}, **_KPIS, "health": _HEALTH}),
    "WhoKnowsWhom": obj(
        {
            "contact": {"type": "string"},
            "colleagues": {"type": "array", "maxItems": 5, "items": _COLLEAGUE},
            "computedAt": TIME,
            "accuracy": ACCURACY,
        }
    ),
    "Account": obj(
        {
            "domain": {"type": "string"},
            **_KPIS,
            "health": _HEALTH,
            "contacts": _COUNT,
            "topContacts": {
                "type": "array",
                "maxItems": 3,
                "items": obj(
                    {
                        "contact": {
                            **NULLABLE_STRING,
                            "description": "The address, when the request named it",
                        },
                        "contactKey": {"type": "string"},
                        "interactions": _COUNT,
                        "lastInteraction": TIME,
                    }
                ),
            },
            "topColleagues": {"type": "array", "maxItems": 3, "items": _COLLEAGUE},
        }
    ),
    "ContactLookup": {
        "type": "object",
        "required": ["contact"],
        "additionalProperties": False,
        "properties": {"contact": {"type": "string", "format": "email", "maxLength": 254}},
    },
    "AccountLookup": {
        "type": "object",
        "required": ["domain"],
        "additionalProperties": False,
        "properties": {
            "domain": {"type": "string", "maxLength": 253},
            "knownContacts": {
                "type": "array",
                "maxItems": 1000,
                "description": "Addresses of the account the caller knows, to name its top contacts",
                "items": {"type": "string", "format": "email", "maxLength": 254},
            },
        },
    },
    "IntroductionRequest": {
        "type": "object",
        "required": ["contact", "colleagueUserId"],
        "additionalProperties": False,
        "properties": {"contact": {"type": "string", "format": "email"}, "colleagueUserId": GUID},
    },
    "Introduction": obj(
        {
            "id": {"type": "string"},
            "contact": {"type": "string"},
            "colleagueUserId": GUID,
            "requestedAt": TIME,
            "draft": obj(
                {"to": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"}}
            ),
        }
    ),
    "IntroductionTemplate": {
        "type": "object",
        "required": ["subject", "body"],
        "additionalProperties": False,
        "description": "Placeholders: {colleagueName} {colleagueAddress} {contactAddress} {requesterName} "
        "{requesterAddress}; {{ and }} write braces.",
        "properties": {
            "subject": {"type": "string", "maxLength": 255},
            "body": {"type": "string", "maxLength": 10000},
        },
    },
    "InsightSettings": {
        "type": "object",
        "additionalProperties": False,
        "properties": _SETTINGS_PROPERTIES,
        "description": "Any field left out takes its default (weights 1.0, grades good 60-100, fair 40-59, "
        "poor 0-39, cadence weekly).",
    },
    "InsightSettingsSaved": obj({**_SETTINGS_PROPERTIES, "applies": {"type": "string"}}),
}
SCHEMA_REFS = {name: ref(name) for name in SCHEMAS}
