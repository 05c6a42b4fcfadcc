"""Shared fixtures: a real PostgreSQL (FRONTDESK_TEST_DATABASE_URL, else an embedded server), a migrated
template database, and a fresh database per test cloned from it."""

from __future__ import annotations

import itertools
import os
import queue
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from core.db import migrate
from core.db.engine import RUNTIME_ROLE, create_app_engine, parse_url
from core.services import uow as uow_module
from tests.factories import HotelFixture, make_hotel, unique_name

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server the tests may create databases on."""

    admin_url: URL  # superuser / owner connection
    app_password: str | None  # the runtime role's password (None: trust auth)

    def owner_url(self, database: str) -> URL:
        return self.admin_url.set(database=database)

    def app_url(self, database: str) -> URL:
        return self.admin_url.set(database=database, username=RUNTIME_ROLE, password=self.app_password)

    def admin_connect(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_url.set(drivername="postgresql").render_as_string(False), autocommit=True)


@dataclass
class TestDatabase:
    name: str
    owner: Engine  # the migration owner (superuser in tests)
    app: Engine  # the runtime role the application uses (RLS applies)
    server: Server


_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    url = os.environ.get("FRONTDESK_TEST_DATABASE_URL")
    if url:
        yield Server(admin_url=parse_url(url, "FRONTDESK_TEST_DATABASE_URL"), app_password=None)
        return
    from core.db import embedded

    with tempfile.TemporaryDirectory(prefix="frontdesk-tests-") as folder:
        started = embedded.start(Path(folder) / "pgdata")
        yield Server(admin_url=started.owner_url.set(database="postgres"), app_password=started.app_url.password)


def create_database(server: Server, name: str, template: str | None = None) -> None:
    with server.admin_connect() as conn:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(statement)


def drop_database(server: Server, name: str) -> None:
    with server.admin_connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class DatabasePool:
    """Clones of the migrated template made ahead of time and dropped behind, on background threads,
    so a test does not wait for CREATE DATABASE and DROP DATABASE (about a second together)."""

    def __init__(self, server: Server, template: str, ahead: int = 2) -> None:
        self.server = server
        self.template = template
        self.ready: queue.Queue[str | BaseException] = queue.Queue()
        self.workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="test-databases")
        self.lock = threading.Lock()
        for _ in range(ahead):
            self.workers.submit(self._make)

    def _make(self) -> None:
        name = f"fdtest_{os.getpid()}_{next(_counter)}"
        try:
            create_database(self.server, name, self.template)
            self.ready.put(name)
        except BaseException as exc:  # handed to the test that waits, so the failure is visible there
            self.ready.put(exc)

    def take(self) -> str:
        self.workers.submit(self._make)
        name = self.ready.get(timeout=120)
        if isinstance(name, BaseException):
            raise name
        return name

    def give_back(self, name: str) -> None:
        self.workers.submit(drop_database, self.server, name)

    def close(self) -> None:
        self.workers.shutdown(wait=True)
        while not self.ready.empty():
            left = self.ready.get()
            if isinstance(left, str):
                drop_database(self.server, left)


@pytest.fixture(scope="session")
def template_database(pg_server: Server) -> Iterator[str]:
    name = f"fdtest_tpl_{os.getpid()}"
    drop_database(pg_server, name)
    create_database(pg_server, name)
    engine = create_app_engine(pg_server.owner_url(name))
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    drop_database(pg_server, name)


@pytest.fixture(scope="session")
def database_pool(pg_server: Server, template_database: str) -> Iterator[DatabasePool]:
    pool = DatabasePool(pg_server, template_database)
    yield pool
    pool.close()


def _engines(pg_server: Server, name: str) -> TestDatabase:
    return TestDatabase(
        name=name,
        owner=create_app_engine(pg_server.owner_url(name)),
        app=create_app_engine(pg_server.app_url(name), pool_size=10),
        server=pg_server,
    )


def new_database(pg_server: Server, template: str | None) -> TestDatabase:
    name = f"fdtest_{os.getpid()}_{next(_counter)}"
    create_database(pg_server, name, template)
    return _engines(pg_server, name)


def close_database(database: TestDatabase) -> None:
    database.owner.dispose()
    database.app.dispose()
    drop_database(database.server, database.name)


@pytest.fixture(scope="module")
def module_database(pg_server: Server, template_database: str) -> Iterator[TestDatabase]:
    database = new_database(pg_server, template_database)
    yield database
    close_database(database)


def shares_database(request: pytest.FixtureRequest) -> bool:
    """A module with ``SHARED_DATABASE = True`` runs all its tests on one database, each test with hotels of
    its own (row-level security keeps them apart): for modules of many tests, where cloning a database per
    test would cost about a second each."""
    return bool(getattr(request.module, "SHARED_DATABASE", False))


@pytest.fixture
def db(request: pytest.FixtureRequest, pg_server: Server, database_pool: DatabasePool) -> Iterator[TestDatabase]:
    """A migrated database (of its own, or the module's); core.services are bound to its runtime-role engine."""
    shared = shares_database(request)
    database = request.getfixturevalue("module_database") if shared else _engines(pg_server, database_pool.take())
    uow_module.bind_engine(database.app)
    yield database
    uow_module.bind_engine(None)
    if not shared:
        database.owner.dispose()
        database.app.dispose()
        database_pool.give_back(database.name)


@pytest.fixture
def empty_db(pg_server: Server) -> Iterator[TestDatabase]:
    """A database with no schema at all (migration tests)."""
    database = new_database(pg_server, None)
    yield database
    close_database(database)


@pytest.fixture
def hotel(request: pytest.FixtureRequest, db: TestDatabase) -> HotelFixture:
    """A small hotel (10 rooms on two floors, one user per role)."""
    return make_hotel(db.owner, unique_name("Hotel Aurora") if shares_database(request) else "Hotel Aurora", rooms=10)


@pytest.fixture
def other_hotel(request: pytest.FixtureRequest, db: TestDatabase) -> HotelFixture:
    return make_hotel(
        db.owner, unique_name("Hotel Borealis") if shares_database(request) else "Hotel Borealis", rooms=4
    )
