"""Builders and Hypothesis strategies for `Interaction` interactions about one contact (insight tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from functions.domain.interactions import Direction, Interaction, Role

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # a Friday
CONTACT = "c0ffee" * 10 + "c0ff"  # stands in for a 64-hex contact hash
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace")


def email(
    key: str,
    *,
    at: datetime,
    direction: Direction = "received",
    user: str = "alice",
    user_role: Role | None = None,
    contact_role: Role | None = None,
    conversation: str = "conv",
) -> Interaction:
    """An email with the contact; by default our user wrote what we sent and the contact what we received."""
    return Interaction(
        key=key,
        kind="email",
        user_id=user,
        contact=CONTACT,
        at=at,
        direction=direction,
        user_role=user_role or ("author" if direction == "sent" else "reader"),
        contact_role=contact_role or ("reader" if direction == "sent" else "author"),
        conversation=conversation,
        minutes=0.0,
    )


def meeting(
    key: str,
    *,
    at: datetime,
    direction: Direction = "sent",
    user: str = "alice",
    user_role: Role | None = None,
    contact_role: Role | None = None,
    minutes: float = 60.0,
) -> Interaction:
    """A meeting with the contact; by default the organising side's user or contact is the organizer."""
    return Interaction(
        key=key,
        kind="meeting",
        user_id=user,
        contact=CONTACT,
        at=at,
        direction=direction,
        user_role=user_role or ("organizer" if direction == "sent" else "attendee"),
        contact_role=contact_role or ("attendee" if direction == "sent" else "organizer"),
        conversation="",
        minutes=minutes,
    )


@st.composite
def histories(
    draw: st.DrawFn, users: tuple[str, ...] = USERS, max_interactions: int = 12, prefix: str = "k"
) -> list[Interaction]:
    """Interactions as slices hold them: each interaction has one set of attributes, copied to 1+ mailboxes.

    Times range from three days in the future to beyond the one-year window, so the window rules are
    exercised too.
    """
    interactions = []
    for number in range(draw(st.integers(0, max_interactions))):
        kind = draw(st.sampled_from(("email", "meeting")))
        direction = draw(st.sampled_from(("sent", "received")))
        at = NOW - timedelta(minutes=draw(st.integers(-3 * 24 * 60, 380 * 24 * 60)))
        holders = draw(st.lists(st.sampled_from(users), min_size=1, max_size=3, unique=True))
        for user in holders:
            if kind == "email":
                roles: tuple[Role, ...] = ("author", "reader")
                interactions.append(
                    email(
                        f"{prefix}{number}",
                        at=at,
                        direction=direction,
                        user=user,
                        user_role=draw(st.sampled_from(roles)) if direction == "sent" else "reader",
                        contact_role="reader" if direction == "sent" else draw(st.sampled_from(roles)),
                        conversation=draw(st.sampled_from(("c1", "c2", ""))),
                    )
                )
            else:
                interactions.append(
                    meeting(
                        f"{prefix}{number}",
                        at=at,
                        direction=direction,
                        user=user,
                        user_role=draw(st.sampled_from(("organizer", "attendee", "declined"))),
                        contact_role=draw(st.sampled_from(("organizer", "attendee", "declined"))),
                        minutes=float(draw(st.sampled_from((15, 30, 60, 480)))),
                    )
                )
    return _consistent(interactions)


def _consistent(interactions: list[Interaction]) -> list[Interaction]:
    # Copies of one message agree on everything but the holder's part; the first copy's values win.
    first: dict[str, Interaction] = {}
    agreed = []
    for interaction in interactions:
        model = first.setdefault(interaction.key, interaction)
        agreed.append(
            Interaction(
                key=interaction.key,
                kind=model.kind,
                user_id=interaction.user_id,
                contact=interaction.contact,
                at=model.at,
                direction=model.direction,
                user_role=interaction.user_role,
                contact_role=model.contact_role,
                conversation=model.conversation,
                minutes=model.minutes,
            )
        )
    return agreed
