"""Who belongs to which app: owners and members. An app is visible only to its members."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from app.extensions import db
from app.models import App, Membership, User


class MembershipError(ValueError):
    """A membership change that is refused, with a message meant for the user."""


def role_of(user_id: int, app_id: uuid.UUID) -> str | None:
    """Return the user's role in the app ("owner" or "member"), or None if not a member."""
    return db.session.scalar(
        select(Membership.role).where(Membership.user_id == user_id, Membership.app_id == app_id)
    )


def apps_of(user_id: int) -> list[tuple[App, str]]:
    """Return the apps the user belongs to, by name, with the user's role in each."""
    rows = db.session.execute(
        select(App, Membership.role)
        .join(Membership, Membership.app_id == App.id)
        .where(Membership.user_id == user_id)
        .order_by(App.name)
    )
    return [(app, role) for app, role in rows]


def members_of(app_id: uuid.UUID) -> list[tuple[User, str]]:
    """Return the app's members, owners first, with their roles."""
    rows = db.session.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.app_id == app_id)
        .order_by(Membership.role.desc(), User.email)
    )
    return [(user, role) for user, role in rows]


def add(app_id: uuid.UUID, user: User, role: str = "member") -> Membership:
    """Make a registered developer a member (or owner) of the app."""
    if role_of(user.id, app_id) is not None:
        raise MembershipError(f"{user.email} is already a member of this app")
    membership = Membership(user_id=user.id, app_id=app_id, role=role)
    db.session.add(membership)
    db.session.commit()
    return membership


def remove(app_id: uuid.UUID, user_id: int) -> None:
    """Remove a member; the last owner cannot be removed."""
    membership = db.session.scalar(
        select(Membership).where(Membership.app_id == app_id, Membership.user_id == user_id)
    )
    if membership is None:
        raise MembershipError("that developer is not a member of this app")
    if membership.role == "owner" and _owner_count(app_id) <= 1:
        raise MembershipError("an app needs an owner: the last owner cannot be removed")
    db.session.delete(membership)
    db.session.commit()


def _owner_count(app_id: uuid.UUID) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.app_id == app_id, Membership.role == "owner")
    )
