"""The ``frontdesk`` command: no argument opens the app; ``db``, ``demo`` and ``user`` do the operator's jobs."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
import time
from collections.abc import Sequence

from core import config
from core.errors import FrontDeskError

log = logging.getLogger("frontdesk")
DEMO_HOTEL = "Hotel Aurora (demo)"


def _connection_options(suppress: bool) -> argparse.ArgumentParser:
    """--database-url and --admin-url, accepted before or after the sub-command."""
    options = argparse.ArgumentParser(add_help=False)
    default = argparse.SUPPRESS if suppress else None
    options.add_argument(
        "--database-url",
        default=default,
        help="runtime database URL (else FRONTDESK_DATABASE_URL, the config file, else embedded)",
    )
    options.add_argument(
        "--admin-url", default=default, help="owner URL for migrations, roles and seeding on a shared server"
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="frontdesk", description="Hotel front desk.", parents=[_connection_options(suppress=False)]
    )
    common = _connection_options(suppress=True)
    parser.add_argument("--demo", action="store_true", help="use the embedded database with the demo hotel")
    parser.add_argument("--quit-after", type=float, metavar="SECONDS", help="open, wait, exit (smoke tests)")
    commands = parser.add_subparsers(dest="command")

    db = commands.add_parser("db", help="schema migrations and roles").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", parents=[common], help="migrate the schema to this version")
    down = db.add_parser("downgrade", parents=[common], help="migrate the schema back")
    down.add_argument("revision", help="target revision, e.g. -1 or base")
    db.add_parser("current", parents=[common], help="show the schema revision")
    db.add_parser("init-roles", parents=[common], help="create the runtime login role (admin connection)")

    demo = commands.add_parser("demo", help="demo data").add_subparsers(dest="demo_command", required=True)
    seed = demo.add_parser("seed", parents=[common], help="create a demo hotel")
    seed.add_argument("--hotel", default=DEMO_HOTEL)
    seed.add_argument("--rooms", type=int, default=120)
    seed.add_argument("--days", type=int, default=60)
    seed.add_argument("--seed", type=int, default=7)

    user = commands.add_parser("user", help="staff users").add_subparsers(dest="user_command", required=True)
    add = user.add_parser("add", parents=[common], help="add a staff user (prompts for the password)")
    add.add_argument("--hotel", required=True)
    add.add_argument("--username", required=True)
    add.add_argument("--role", required=True, choices=["admin", "manager", "front_desk", "housekeeping"])
    add.add_argument("--full-name", default="")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = config.resolve(None if args.demo else args.database_url, args.admin_url)
        config.setup_logging(settings.paths)
        if args.demo:
            os.environ.pop(config.ENV_DATABASE_URL, None)
        return _dispatch(args, settings)
    except FrontDeskError as exc:
        print(f"frontdesk: {exc}", file=sys.stderr)
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: config.Settings) -> int:
    if args.command == "db":
        return _db(args, settings)
    if args.command == "demo":
        return _demo_seed(args, settings)
    if args.command == "user":
        return _user_add(args, settings)
    return _open_app(args, settings)


def _db(args: argparse.Namespace, settings: config.Settings) -> int:
    from core.db import migrate, roles
    from core.db.connect import open_owner

    owner = open_owner(settings)
    try:
        if args.db_command == "upgrade":
            migrate.upgrade(owner)
            print(f"Schema is at {migrate.current_revision(owner)} (head).")
        elif args.db_command == "downgrade":
            migrate.downgrade(owner, args.revision)
            print(f"Schema is at {migrate.current_revision(owner) or 'base (empty)'}.")
        elif args.db_command == "current":
            current = migrate.current_revision(owner)
            state = "up to date" if current == migrate.head_revision() else f"head is {migrate.head_revision()}"
            print(f"{current or 'empty'} ({state})")
        elif args.db_command == "init-roles":
            password = os.environ.get("FRONTDESK_APP_PASSWORD") or _ask_password("Password for frontdesk_app: ")
            roles.init_roles(owner, password)
            print("Role frontdesk_app is ready. Next: frontdesk db upgrade --admin-url ...")
    finally:
        owner.dispose()
    return 0


def _demo_seed(args: argparse.Namespace, settings: config.Settings) -> int:
    from core import demo
    from core.db import migrate
    from core.db.connect import open_owner
    from core.errors import ValidationError

    owner = open_owner(settings)
    try:
        migrate.ensure_current(owner)
        try:
            summary = demo.seed_demo(owner, hotel_name=args.hotel, rooms=args.rooms, days=args.days, seed=args.seed)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
    finally:
        owner.dispose()
    print(demo.describe_summary(summary))
    return 0


def _user_add(args: argparse.Namespace, settings: config.Settings) -> int:
    from core import operator_tasks
    from core.db.connect import open_owner

    password = os.environ.get("FRONTDESK_NEW_USER_PASSWORD") or _ask_password(f"Password for {args.username}: ")
    owner = open_owner(settings)
    try:
        user_id = operator_tasks.add_user(
            owner,
            hotel_name=args.hotel,
            username=args.username,
            role=args.role,
            full_name=args.full_name or args.username,
            password=password,
        )
    finally:
        owner.dispose()
    print(f"User {args.username} ({args.role}) added to {args.hotel} with id {user_id}.")
    return 0


def _ask_password(prompt: str) -> str:
    from core.errors import ValidationError

    first = getpass.getpass(prompt)
    if getpass.getpass("Repeat: ") != first:
        raise ValidationError("The two passwords differ; nothing was changed.")
    return first


def _open_app(args: argparse.Namespace, settings: config.Settings) -> int:
    from core import demo
    from core.db.connect import open_database
    from core.services.uow import bind_engine

    began = time.perf_counter()
    database = open_database(settings)
    if database.owner is not None and (args.demo or settings.embedded):
        seeded = demo.ensure_demo_hotel(database.owner, DEMO_HOTEL)
        if seeded is not None:
            print(demo.describe_summary(seeded))
    bind_engine(database.app)
    log.info("database ready in %.2fs (%s)", time.perf_counter() - began, database.where)
    from desk_app.app import run_app

    try:
        return run_app(database, quit_after=args.quit_after, started=began)
    finally:
        bind_engine(None)
        database.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
