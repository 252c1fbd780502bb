"""``SQLDatabase``: the SQL backend (group ``database``, name ``sql``), on SQLAlchemy 2 async.

Options (``DATABASE_CONFIG = {"sql": {...}}``):

* ``url``: an async SQLAlchemy URL, e.g. ``postgresql+asyncpg://user:pw@host/db`` or
  ``sqlite+aiosqlite:///data/app.sqlite3``. Default: ``<base_dir>/spoc.sqlite3``. A
  relative SQLite path is taken from the app's base dir, not the working directory;
  ``sqlite+aiosqlite://`` is an in-memory database (one connection, for tests);
* ``echo``, ``pool_size``, ``max_overflow``, ``pool_timeout``, ``pool_recycle``: passed to
  ``create_async_engine`` (the pool options need a queue pool, so not in-memory SQLite);
* ``pool_pre_ping`` (default ``True``): test each pooled connection as it is checked out,
  so connections broken by a server restart are replaced instead of failing a request.
  It costs a round trip per checkout (three on asyncpg, which pings inside a
  transaction); ``False`` saves them and lets the first request after a restart fail;
* ``connect_timeout`` (seconds, default 10): bounds the startup check, and each new
  PostgreSQL connection (one that times out raises :class:`ConnectTimeoutError`);
* ``statement_timeout`` (seconds, default 30; ``None`` disables): bounds every statement.
  PostgreSQL enforces it server-side (the ``statement_timeout`` setting of each
  connection) and asyncpg client-side half a second later (``command_timeout``), so a
  frozen server, which sends nothing at all, fails too and the connection is dropped;
  on SQLite a running statement is interrupted. Either way the call raises
  :class:`StatementTimeoutError` naming the database (see docs/reliability.md);
* ``connect_args``: passed to the driver (e.g. ``{"server_settings": {"application_name":
  "web"}}`` for asyncpg);
* ``sqlite_pragmas``: run on every new SQLite connection; default
  ``{"journal_mode": "WAL", "foreign_keys": "ON"}`` (readers do not block the writer;
  foreign keys are enforced as in PostgreSQL); ``{}`` runs none;
* ``transaction_mode`` (SQLite only): how ``transaction()`` and sessions begin,
  ``"immediate"`` (default: take the write lock at BEGIN, so concurrent read-then-write
  transactions wait for each other, up to the driver's busy ``timeout``, 5 s unless
  ``connect_args={"timeout": ...}``), ``"deferred"`` (SQLite's own default: readers in
  transactions run in parallel, but a reader that later writes fails with "database is
  locked" when another write got in first) or ``"exclusive"``;
* ``engine_options``: any other ``create_async_engine`` keyword.

SQL text takes ``:name`` parameters on every dialect. Statements run in their own
transaction (committed on success), unless made inside ``async with db.transaction()``
by the same task: then they share its connection and roll back with it.

A statement with one parameter set (or none) outside ``transaction()`` runs on a
connection in the database's autocommit mode: a single statement is a transaction of
its own there, committed when it succeeds, so nothing observable changes, and the
BEGIN and COMMIT round trips are saved. A list of parameter sets runs inside
BEGIN ... COMMIT, so it is all or nothing.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import anyio

from spoc_asgi.backends._shared import (
    InvalidOption,
    connect_error,
    non_negative_int,
    optional_positive_number,
    positive_number,
)
from spoc_asgi.errors import BackendNotReadyError
from spoc_asgi.redaction import redact_text

# The client-side bound on PostgreSQL fires this long after the server's own
# statement_timeout, so a live server cancels first (and keeps the connection).
STATEMENT_TIMEOUT_GRACE = 0.5
# Retries of a statement the driver refused before sending it (a connection the server
# closed after its pre-ping): a server closing every connection at once (a restart,
# pg_terminate_backend) can catch a second pooled connection in the same state.
NEVER_SENT_RETRIES = 2
# asyncpg's command_timeout and connect timeout raise asyncio.TimeoutError, which is
# not the builtin TimeoutError before Python 3.11: catch both.
TIMEOUT_ERRORS = (TimeoutError, asyncio.TimeoutError)
# Where each SQLite connection's interrupt() is kept, in its pool record's info.
SQLITE_INTERRUPT = "spoc_asgi.sqlite_interrupt"

try:
    from sqlalchemy import event, text
    from sqlalchemy.engine import URL, Connection, CursorResult, make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
    from sqlalchemy.ext.asyncio import (
        AsyncConnection,
        AsyncEngine,
        AsyncSession,
        async_sessionmaker,
        create_async_engine,
    )
    from sqlalchemy.pool import QueuePool
    from sqlalchemy.sql import Executable
    from sqlalchemy.sql.elements import TextClause
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "spoc_asgi.backends.sql.SQLDatabase needs SQLAlchemy: pip install 'spoc_asgi[sql]' "
        "(and 'spoc_asgi[postgres]' for PostgreSQL)"
    ) from exc

T = TypeVar("T")
Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
Statement = str | Executable

DEFAULT_FILE = "spoc.sqlite3"
DEFAULT_SQLITE_PRAGMAS: Mapping[str, str | int] = {"journal_mode": "WAL", "foreign_keys": "ON"}
QUEUE_POOL_OPTIONS = ("pool_size", "max_overflow", "pool_timeout")
_PRAGMA_NAME = re.compile(r"[A-Za-z_]+")
_PRAGMA_VALUE = re.compile(r"[A-Za-z0-9_\-]+")


class StatementTimeoutError(TimeoutError):
    """A statement ran past ``statement_timeout`` (the server was slow, stuck or frozen)."""


class ConnectTimeoutError(TimeoutError):
    """A new connection was not established within ``connect_timeout``."""


class SQLDatabase:
    name = "sql"

    def __init__(
        self,
        *,
        url: str | URL | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        echo: bool | str = False,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        pool_timeout: float | None = None,
        pool_recycle: float | None = None,
        pool_pre_ping: bool = True,
        connect_timeout: float = 10.0,
        statement_timeout: float | None = 30.0,
        connect_args: Mapping[str, Any] | None = None,
        sqlite_pragmas: Mapping[str, str | int] | None = None,
        transaction_mode: str | None = None,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.url = _resolve_url(url, Path(base_dir) if base_dir is not None else Path.cwd())
        self.connect_timeout = positive_number("connect_timeout", connect_timeout)
        self.statement_timeout = optional_positive_number("statement_timeout", statement_timeout)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._engine_kwargs = self._engine_options(
            echo=echo,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_recycle=pool_recycle,
            pool_pre_ping=pool_pre_ping,
            connect_args=connect_args,
            engine_options=engine_options,
        )
        self._pragmas = _sqlite_pragmas(self.url, sqlite_pragmas) if self.is_sqlite else {}
        self._begin = _sqlite_begin_statement(transaction_mode, self.is_sqlite)
        self._engine: AsyncEngine | None = None
        # The same engine (same pool) for single statements: see _single_statement_engine.
        self._single: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        # The connection of the transaction() the current task is in, per instance.
        self._current: ContextVar[AsyncConnection | None] = ContextVar(
            f"spoc_sql_transaction_{id(self)}", default=None
        )

    def __repr__(self) -> str:
        return f"SQLDatabase(url={self.display_url!r})"

    @property
    def display_url(self) -> str:
        """The URL with its password masked: safe for logs and errors."""
        return redact_text(self.url.render_as_string(hide_password=True))

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise self._not_connected()
        return self._engine

    def _not_connected(self) -> BackendNotReadyError:
        return BackendNotReadyError(
            f"{self!r} is not connected: the app's lifespan connects it "
            f"(or await connect() when using it on its own)"
        )

    # -- lifecycle --------------------------------------------------------------------

    async def connect(self) -> None:
        if self._engine is not None:
            return
        try:
            engine, bare = self._create_engine()
        except Exception as exc:  # a missing driver, an option the dialect rejects
            raise connect_error("sql database", self.display_url, exc) from exc
        try:
            with anyio.fail_after(self.connect_timeout):
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
                    single = await connection.run_sync(
                        _single_statement_engine, bare, "isolation_level" in self._engine_kwargs
                    )
        except Exception as exc:
            await engine.dispose()
            detail = f"no answer within {self.connect_timeout:g}s (connect_timeout)"
            raise connect_error(
                "sql database",
                self.display_url,
                _driver_error(exc),
                detail if _timed_out(exc) else None,
            ) from exc
        self._engine, self._single = engine, single
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def disconnect(self) -> None:
        engine, self._engine, self._single, self._sessions = self._engine, None, None, None
        if engine is not None:
            await engine.dispose()

    async def ping(self) -> bool:
        engine = self.engine
        try:
            with anyio.fail_after(self.connect_timeout):
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError, *TIMEOUT_ERRORS):
            return False
        return True

    # -- queries ----------------------------------------------------------------------

    async def execute(self, sql: Statement, params: Params = None) -> int:
        """Run a statement; return its row count as the driver reports it.

        -1 where the driver has none: DDL, and a list of parameter sets on asyncpg.
        """
        return await self._run(sql, params, lambda result: result.rowcount)

    async def fetch_all(self, sql: Statement, params: Params = None) -> list[dict[str, Any]]:
        return await self._run(sql, params, lambda result: [dict(r) for r in result.mappings()])

    async def fetch_one(self, sql: Statement, params: Params = None) -> dict[str, Any] | None:
        def first(result: CursorResult[Any]) -> dict[str, Any] | None:
            row = result.mappings().first()
            return None if row is None else dict(row)

        return await self._run(sql, params, first)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """Commit on success, roll back on error; nested calls are savepoints.

        ``execute``/``fetch_*``/``session()`` calls made inside it by the same task use
        its connection. Do not share it between tasks running at the same time.
        """
        current = self._current.get()
        if current is not None:
            async with current.begin_nested():
                yield current
            return
        async with self.engine.begin() as connection:
            token = self._current.set(connection)
            try:
                yield connection
            finally:
                self._current.reset(token)

    def session(self, **options: Any) -> AsyncSession:
        """A new ORM ``AsyncSession`` (use ``async with``); inside ``transaction()`` it joins it."""
        sessions = self._sessions
        if sessions is None:
            raise self._not_connected()
        connection = self._current.get()
        if connection is not None:
            options = {"bind": connection, "join_transaction_mode": "create_savepoint", **options}
        return sessions(**options)

    async def _run(
        self, sql: Statement, params: Params, read: Callable[[CursorResult[Any]], T]
    ) -> T:
        statement = _text(sql) if isinstance(sql, str) else sql
        connection = self._current.get()
        try:
            if connection is not None:
                return read(await self._bounded(connection, statement, params))
            for _ in range(NEVER_SENT_RETRIES):
                try:
                    return await self._run_alone(statement, params, read)
                except DBAPIError as exc:
                    if not _never_sent(exc):
                        raise
                # The pooled connection had been closed by the server after its pre-ping
                # passed (see docs/reliability.md); the statement never left this
                # process, and the connection has been dropped, so a retry is safe.
            return await self._run_alone(statement, params, read)
        except ConnectTimeoutError:
            raise  # opening a connection timed out, not a statement (see _on_connect)
        except (*TIMEOUT_ERRORS, DBAPIError) as exc:
            if not _is_timeout(exc):
                raise
            raise StatementTimeoutError(
                f"sql database at {self.display_url}: the statement did not finish within "
                f"{self.statement_timeout:g}s (statement_timeout)"
            ) from exc

    async def _run_alone(
        self, statement: Executable, params: Params, read: Callable[[CursorResult[Any]], T]
    ) -> T:
        single = self._single
        if single is not None and (params is None or isinstance(params, Mapping)):
            async with single.connect() as connection:
                return read(await self._bounded(connection, statement, params))
        async with self.engine.begin() as connection:
            return read(await self._bounded(connection, statement, params))

    async def _bounded(
        self, connection: AsyncConnection, statement: Executable, params: Params
    ) -> CursorResult[Any]:
        """Execute; on SQLite, interrupt the statement once it runs past statement_timeout.

        PostgreSQL needs nothing here: the server and asyncpg bound every statement.
        """
        if not self.is_sqlite or self.statement_timeout is None:
            return await connection.execute(statement, params)
        interrupt = connection.info.get(SQLITE_INTERRUPT)  # set by _on_sqlite_connect
        if interrupt is None:  # pragma: no cover - depends on the aiosqlite version
            return await connection.execute(statement, params)
        # sqlite3's interrupt() is safe to call from any thread; the statement then
        # fails with "interrupted" in the driver's thread.
        timer = asyncio.get_running_loop().call_later(self.statement_timeout, interrupt)
        try:
            return await connection.execute(statement, params)
        finally:
            timer.cancel()

    # -- engine -----------------------------------------------------------------------

    def _engine_options(
        self,
        *,
        echo: bool | str,
        pool_size: int | None,
        max_overflow: int | None,
        pool_timeout: float | None,
        pool_recycle: float | None,
        pool_pre_ping: bool,
        connect_args: Mapping[str, Any] | None,
        engine_options: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        if echo not in (True, False, "debug"):
            raise InvalidOption(f"echo must be true, false or 'debug', got {echo!r}")
        if not isinstance(pool_pre_ping, bool):
            raise InvalidOption(f"pool_pre_ping must be true or false, got {pool_pre_ping!r}")
        for name, value in (("connect_args", connect_args), ("engine_options", engine_options)):
            if value is not None and not isinstance(value, Mapping):
                raise InvalidOption(f"{name} must be a dict, got {type(value).__name__}")
        pool = {
            "pool_size": None if pool_size is None else non_negative_int("pool_size", pool_size),
            "max_overflow": _max_overflow(max_overflow),
            "pool_timeout": optional_positive_number("pool_timeout", pool_timeout),
            "pool_recycle": optional_positive_number("pool_recycle", pool_recycle),
        }
        options: dict[str, Any] = dict(engine_options or {})
        options.update({name: value for name, value in pool.items() if value is not None})
        self._check_pool_options(options)
        arguments = dict(connect_args or {})
        if self.url.get_driver_name() == "asyncpg":
            arguments.setdefault("timeout", self.connect_timeout)
            if self.statement_timeout is not None:
                milliseconds = max(1, round(self.statement_timeout * 1000))
                settings = dict(arguments.get("server_settings") or {})
                settings.setdefault("statement_timeout", str(milliseconds))
                arguments["server_settings"] = settings
                client_bound = self.statement_timeout + STATEMENT_TIMEOUT_GRACE
                arguments.setdefault("command_timeout", client_bound)
        if arguments:
            options["connect_args"] = arguments
        options.update(echo=echo, pool_pre_ping=pool_pre_ping)
        return options

    def _check_pool_options(self, options: Mapping[str, Any]) -> None:
        given = [name for name in QUEUE_POOL_OPTIONS if name in options]
        if not given or "poolclass" in options:
            return
        dialect: Any = self.url.get_dialect()  # a DefaultDialect subclass
        pool_class = dialect.get_pool_class(self.url)
        if not issubclass(pool_class, QueuePool):
            raise InvalidOption(
                f"{', '.join(given)} cannot be used with {self.display_url}: its "
                f"{pool_class.__name__} keeps a single connection"
            )

    def _create_engine(self) -> tuple[AsyncEngine, AsyncEngine]:
        """The engine, and the same engine (same pool) without SQLite's BEGIN listener.

        A connection event listener makes SQLAlchemy dispatch events around every
        statement on that engine; single statements (see ``_single_statement_engine``)
        need no BEGIN, so they run on the bare one and skip that cost.
        """
        if self.is_sqlite and (path := _sqlite_file(self.url)) is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        bare = create_async_engine(self.url, **self._engine_kwargs)
        _on_driver_errors(bare)
        if not self.is_sqlite:
            _on_connect(bare, self.display_url, self.connect_timeout)
            return bare, bare
        _on_sqlite_connect(bare, self._pragmas)
        engine = bare.execution_options()  # shares the pool; its listeners are its own
        _on_sqlite_begin(engine, self._begin)
        return engine, bare


@functools.lru_cache(maxsize=512)
def _text(sql: str) -> TextClause:
    """``text(sql)``, made once per SQL string: parsing it and computing its SQL cache
    key on every call cost about a tenth of a SQLite ``fetch_one``."""
    return text(sql)


def _resolve_url(url: Any, base_dir: Path) -> URL:
    if url is None:
        return URL.create("sqlite+aiosqlite", database=str(base_dir.absolute() / DEFAULT_FILE))
    if not isinstance(url, (str, URL)):
        raise InvalidOption(f"url must be a string, got {type(url).__name__}")
    shown = redact_text(str(url))
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise InvalidOption(
            f"url {shown!r} is not a usable SQLAlchemy URL ({exc}); expected e.g. "
            f"'postgresql+asyncpg://user:password@host/db' or 'sqlite+aiosqlite:///file.sqlite3'"
        ) from None
    if not dialect.is_async:
        raise InvalidOption(
            f"url {shown!r} uses the synchronous driver {parsed.get_driver_name()!r}; "
            f"name an async one, e.g. 'postgresql+asyncpg://...' or 'sqlite+aiosqlite:///...'"
        )
    path = _sqlite_file(parsed) if parsed.get_backend_name() == "sqlite" else None
    if path is not None and not path.is_absolute():
        parsed = parsed.set(database=str(base_dir.absolute() / path))
    return parsed


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for in-memory and ``file:`` URI databases."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _sqlite_pragmas(url: URL, pragmas: Any) -> dict[str, str | int]:
    if pragmas is None:
        chosen = dict(DEFAULT_SQLITE_PRAGMAS)
        if _sqlite_file(url) is None:
            chosen.pop("journal_mode")  # WAL needs a file
        return chosen
    if not isinstance(pragmas, Mapping):
        raise InvalidOption(f"sqlite_pragmas must be a dict, got {type(pragmas).__name__}")
    for name, value in pragmas.items():
        if not (isinstance(name, str) and _PRAGMA_NAME.fullmatch(name)) or not (
            isinstance(value, (str, int)) and _PRAGMA_VALUE.fullmatch(str(value))
        ):
            raise InvalidOption(f"sqlite_pragmas: {name!r}={value!r} is not a simple pragma")
    return dict(pragmas)


def _on_sqlite_connect(engine: AsyncEngine, pragmas: Mapping[str, str | int]) -> None:
    @event.listens_for(engine.sync_engine, "connect")  # a pool event: every engine on it
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below): the sqlite3 module's own handling
        # skips it before DDL and breaks SAVEPOINT, so a rollback would not undo all.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for name, value in pragmas.items():
            cursor.execute(f"PRAGMA {name}={value}")
        cursor.close()
        # For statement_timeout (see _bounded): aiosqlite has no public interrupt(), so
        # sqlite3's is taken from its private connection, once per connection.
        sqlite_connection = getattr(record.driver_connection, "_conn", None)
        record.info[SQLITE_INTERRUPT] = getattr(sqlite_connection, "interrupt", None)


def _on_connect(engine: AsyncEngine, display_url: str, connect_timeout: float) -> None:
    """Report a new connection that timed out as :class:`ConnectTimeoutError`.

    The driver raises a bare ``TimeoutError`` for it, as for a statement, and both can
    happen in one call (a checkout opens a connection, then the statement runs).
    """

    @event.listens_for(engine.sync_engine, "do_connect")
    def do_connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except TIMEOUT_ERRORS as exc:
            limit = cparams.get("timeout", connect_timeout)
            shown = f"{limit:g}" if isinstance(limit, (int, float)) else str(limit)
            raise ConnectTimeoutError(
                f"sql database at {display_url}: no new connection within "
                f"{shown}s (connect_timeout)"
            ) from exc


def _on_driver_errors(engine: AsyncEngine) -> None:
    """Drop connections the driver's protocol state no longer allows to use.

    asyncpg reports a connection the server closed after the pre-ping
    (``pg_terminate_backend``, a restart) as ``InternalClientError: cannot switch
    to state ...; another operation (2) is in progress`` or as an ``InterfaceError``
    ("another operation is in progress / cancelling") after a client-side timeout.
    SQLAlchemy does not count these as disconnects, so the connection would go back to
    the pool and fail the next request too; marked here, it is invalidated instead.
    """

    @event.listens_for(engine.sync_engine, "handle_error")
    def on_error(context: Any) -> None:
        if _protocol_broken(context.original_exception):
            context.is_disconnect = True

    @event.listens_for(engine.sync_engine.pool, "invalidate")
    def on_invalidate(dbapi_connection: Any, record: Any, exception: Any) -> None:
        # A timed-out or broken asyncpg connection would spend 2 s in SQLAlchemy's
        # graceful close (waiting for a frozen server); close its socket at once.
        if exception is not None and (
            isinstance(exception, TIMEOUT_ERRORS) or _protocol_broken(exception)
        ):
            terminate = getattr(
                getattr(dbapi_connection, "driver_connection", None), "terminate", None
            )
            if callable(terminate):
                terminate()


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return chain


def _protocol_broken(exc: BaseException) -> bool:
    for cause in _causes(exc):
        name = type(cause).__name__
        if name == "InternalClientError":
            return True
        if name == "InterfaceError" and "another operation" in str(cause):
            return True
    return False


def _never_sent(exc: DBAPIError) -> bool:
    """The driver refused the statement before sending it (its protocol state was off)."""
    return exc.connection_invalidated and _protocol_broken(exc)


def _is_timeout(exc: BaseException) -> bool:
    """A client-side timeout, PostgreSQL's statement_timeout, or SQLite's interrupt."""
    for cause in _causes(exc):
        if isinstance(cause, TIMEOUT_ERRORS):
            return True
        name, text = type(cause).__name__, str(cause)
        if name == "QueryCanceledError" and "statement timeout" in text:
            return True
        if "interrupted" in text and "sqlite" in type(cause).__module__ + name.lower():
            return True
    return False


SQLITE_TRANSACTION_MODES = ("immediate", "deferred", "exclusive")


def _sqlite_begin_statement(mode: Any, is_sqlite: bool) -> str:
    """The BEGIN that starts a SQLite transaction (docs/backends.md, "Concurrent writers").

    IMMEDIATE by default: a DEFERRED transaction that reads and then writes cannot wait
    for the lock (its snapshot would be stale), so under WAL it fails at once with
    "database is locked"; IMMEDIATE takes the write lock at BEGIN and waits for it.
    """
    if mode is None:
        return "BEGIN IMMEDIATE"
    if not isinstance(mode, str) or mode.lower() not in SQLITE_TRANSACTION_MODES:
        raise InvalidOption(
            f"transaction_mode must be one of {', '.join(map(repr, SQLITE_TRANSACTION_MODES))}, "
            f"got {mode!r}"
        )
    if not is_sqlite:
        raise InvalidOption(
            "transaction_mode applies to SQLite only; other databases take "
            "engine_options={'isolation_level': ...}"
        )
    return f"BEGIN {mode.upper()}"


def _on_sqlite_begin(engine: AsyncEngine, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


def _single_statement_engine(
    connection: Connection, bare: AsyncEngine, isolation_chosen: bool
) -> AsyncEngine | None:
    """An engine on the same pool where one statement is its own committed transaction.

    SQLite: the bare engine, which sends no BEGIN; the driver is in autocommit mode
    (see ``_on_sqlite_connect``), so SQLite commits the statement itself. Other
    databases: the ``AUTOCOMMIT`` isolation level, where the driver has one (asyncpg
    does, and sends no BEGIN/COMMIT then), unless the user chose an isolation level,
    which only a transaction applies. ``None``: every statement runs in BEGIN ... COMMIT.
    """
    if connection.dialect.name == "sqlite":
        return bare
    if isolation_chosen:
        return None
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection is None:
        return None
    try:
        levels = connection.dialect.get_isolation_level_values(dbapi_connection)
    except NotImplementedError:
        return None
    if "AUTOCOMMIT" not in levels:
        return None
    return bare.execution_options(isolation_level="AUTOCOMMIT")


def _max_overflow(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < -1:
        raise InvalidOption(f"max_overflow must be an integer >= -1, got {value!r}")
    return value


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own error inside SQLAlchemy's wrapper: its name and text say more."""
    original = getattr(exc, "orig", None) if isinstance(exc, DBAPIError) else None
    return original if isinstance(original, BaseException) else exc


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, ConnectTimeoutError) or (
        isinstance(exc, TIMEOUT_ERRORS) and not str(exc)
    )
