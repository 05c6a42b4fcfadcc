"""Domain errors whose messages a receptionist can read, and the mapping of database errors onto them."""

from __future__ import annotations


class FrontDeskError(Exception):
    """Base of every error the application shows to a person."""


class ConfigError(FrontDeskError):
    """The configuration names something that cannot be used."""


class DatabaseUnavailable(FrontDeskError):
    """The database server could not be reached or refused the login."""


class SchemaOutdated(FrontDeskError):
    """The database schema is behind (or ahead of) this version of the application."""


class ValidationError(FrontDeskError):
    """Input that cannot be accepted; nothing was changed."""


class NotFound(FrontDeskError):
    """The record does not exist in this hotel."""


class PermissionDenied(FrontDeskError):
    """The signed-in role may not do this."""


class AuthenticationFailed(FrontDeskError):
    """Unknown user or wrong password (never says which)."""


class RoomUnavailable(FrontDeskError):
    """The room (or room type) is not free for the requested dates."""


class InvalidTransition(FrontDeskError):
    """The record's current state does not allow this step."""


class FolioError(FrontDeskError):
    """A folio rule was broken (closed folio, unsettled balance, bad amount)."""


class ConcurrencyConflict(FrontDeskError):
    """Another terminal changed the same records at the same time; try again."""


class TenantMismatch(FrontDeskError):
    """An event or record belongs to another hotel than the signed-in one."""
