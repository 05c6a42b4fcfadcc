"""The permission matrix: every service entry point refuses every role that lacks its permission, every
public service function taking an actor is an entry point, and GRANTS follows the product's rules.

Modules are found by walking core.services, so services added later are covered without editing this file.
No database is needed: the permission check runs before anything else.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import core.services
from core.auth import GRANTS, Actor, Permission, Role
from core.errors import PermissionDenied
from core.services.uow import ENTRY_POINTS


def _service_modules() -> list[ModuleType]:
    names = pkgutil.walk_packages(core.services.__path__, prefix="core.services.")
    return [importlib.import_module(info.name) for info in names]


SERVICE_MODULES = _service_modules()  # importing them fills ENTRY_POINTS


def _resolve(qualified: str) -> Callable[..., Any]:
    module_name, _, qualname = qualified.rpartition(".")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _dummy_arguments(fn: Callable[..., Any]) -> tuple[list[Any], dict[str, Any]]:
    """None for every required parameter after the actor: the permission check must come first."""
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for param in list(inspect.signature(fn).parameters.values())[1:]:
        if param.default is not inspect.Parameter.empty or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.kind is param.KEYWORD_ONLY:
            keywords[param.name] = None
        else:
            positional.append(None)
    return positional, keywords


DENIALS = [
    (name, role) for name, permission in sorted(ENTRY_POINTS.items()) for role in Role if permission not in GRANTS[role]
]


def test_the_services_define_entry_points():
    assert len(SERVICE_MODULES) > 1
    assert ENTRY_POINTS
    assert DENIALS


@pytest.mark.parametrize(("entry_point", "role"), DENIALS, ids=[f"{n}-{r.value}" for n, r in DENIALS])
def test_entry_point_refuses_a_role_without_its_permission(entry_point, role):
    fn = _resolve(entry_point)
    actor = Actor(hotel_id=1, role=role, user_id=1, username=role.value)
    args, kwargs = _dummy_arguments(fn)
    with pytest.raises(PermissionDenied):
        fn(actor, *args, **kwargs)


def test_every_entry_point_is_the_checked_function_its_module_exports():
    for name, permission in ENTRY_POINTS.items():
        assert getattr(_resolve(name), "permission", None) is permission, name


def _public_functions_taking_an_actor() -> list[str]:
    found = []
    for module in SERVICE_MODULES:
        if module.__name__ == "core.services.uow":
            continue
        for name, fn in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != module.__name__:
                continue
            params = list(inspect.signature(fn).parameters.values())
            if params and (params[0].name == "actor" or params[0].annotation in ("Actor", Actor)):
                found.append(f"{module.__name__}.{fn.__qualname__}")
    return found


def test_every_public_service_function_taking_an_actor_checks_a_permission():
    functions = _public_functions_taking_an_actor()
    assert functions
    assert [name for name in functions if name not in ENTRY_POINTS] == []


# --- the product rules of the permission table ---------------------------------------------------

BOOKING_AND_FOLIO = {
    Permission.BOOKINGS_READ,
    Permission.BOOKINGS_WRITE,
    Permission.CHECK_IN_OUT,
    Permission.FOLIO_POST,
    Permission.FOLIO_VOID,
}


def test_housekeeping_has_no_booking_or_folio_permission():
    assert GRANTS[Role.HOUSEKEEPING] & BOOKING_AND_FOLIO == set()


def test_front_desk_cannot_manage_staff_or_pms_connections():
    assert Permission.STAFF_MANAGE not in GRANTS[Role.FRONT_DESK]
    assert Permission.PMS_MANAGE not in GRANTS[Role.FRONT_DESK]


@pytest.mark.parametrize("permission", [Permission.FOLIO_VOID, Permission.OVERRIDE, Permission.PMS_MANAGE])
def test_only_managers_and_admins_hold(permission):
    assert {role for role in Role if permission in GRANTS[role]} == {Role.MANAGER, Role.ADMIN}


def test_every_role_holds_rooms_read_so_every_signed_in_user_may_change_their_own_password():
    # staff.change_own_password is checked with ROOMS_READ, standing for "any signed-in user".
    assert ENTRY_POINTS["core.services.staff.change_own_password"] is Permission.ROOMS_READ
    assert [role for role in Role if Permission.ROOMS_READ not in GRANTS[role]] == []


def test_admin_holds_every_permission_and_every_role_has_an_entry():
    assert set(GRANTS) == set(Role)
    assert GRANTS[Role.ADMIN] == frozenset(Permission)
