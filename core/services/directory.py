"""What a terminal may know before anyone signs in: the hotels on this database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from core.db.transaction import tenant_session
from core.models import Hotel
from core.services.uow import bound_engine


@dataclass(frozen=True)
class HotelEntry:
    id: int
    name: str


def list_hotels() -> list[HotelEntry]:
    """Hotels are listed to every terminal (sign-in needs them); their data stays behind RLS."""
    with tenant_session(bound_engine(), None) as session:
        rows = session.execute(select(Hotel.id, Hotel.name).order_by(Hotel.name)).all()
    return [HotelEntry(id=row.id, name=row.name) for row in rows]
