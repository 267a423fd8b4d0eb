"""Hot-path statements: compiled once per dialect, run on the driver's cursor.

``conn.execute(stmt)`` costs SQLAlchemy about 60-80 us a statement on this project's hardware
(cache key, parameter construction, result set-up, events) where SQLite runs it in 5-15 us.
Ingest and processing run some forty statements a message, so that overhead, not the
database, set the hub's throughput (bench/hl7v2, ADR 0007). A :class:`Prepared` statement is
still written in SQLAlchemy Core, so its SQL is portable and checked against the tables, but it
is compiled once per dialect (and per set of inserted or updated columns), and each call only
orders the parameters, runs the bind processors SQLAlchemy would (UTC datetimes, JSON) and
executes on the driver cursor inside the caller's transaction; rows come back through the
columns' result processors.

Driver errors are re-raised as SQLAlchemy's (``OperationalError``, ``IntegrityError`` ...), so
callers and :class:`hub.store.db.UnitOfWork` handle them as before; a lost connection is
invalidated so the pool does not hand it out again.

Only module-level statements belong here: each compiled form is kept for the process's life.
Statements built per call stay on ``conn.execute``.
"""

from __future__ import annotations

import keyword
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, NoResultFound
from sqlalchemy.sql import Executable

from hub.store.types import UTCDateTime

Processor = Callable[[Any], Any] | None
_MISSING = object()


class Row(tuple[Any, ...]):
    """A result row: by position, by attribute (``row.id``) and ``row._mapping["id"]``."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=False))

    def __getattr__(self, name: str) -> Any:
        # reached only for names that are not columns (those are properties on the subclass)
        raise AttributeError(name)


def _row_class(fields: Sequence[str]) -> type[Row]:
    names = tuple(fields)
    attrs: dict[str, Any] = {"__slots__": (), "_fields": names}
    for i, name in enumerate(names):
        if name.isidentifier() and not keyword.iskeyword(name) and name not in attrs:
            attrs[name] = property(operator.itemgetter(i))
    return type("Row", (Row,), attrs)


class Rows:
    """What a prepared statement returns: the rows (all fetched) and the row count."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def all(self) -> list[Row]:
        return self._rows

    def first(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise NoResultFound(f"expected one row, got {len(self._rows)}")
        return self._rows[0][0]

    def scalars(self) -> list[Any]:
        return [r[0] for r in self._rows]


class _Form:
    """One statement compiled for one dialect (and one set of column keys)."""

    __slots__ = ("binds", "fallback", "positional", "result_procs", "row", "sql")

    def __init__(self, stmt: Any, dialect: Dialect, keys: Sequence[str] | None) -> None:
        first = stmt.compile(dialect=dialect, column_keys=keys)
        required = {name for name, bp in first.binds.items() if bp.required}
        per_call_lists = any(bp.expanding and not bp.literal_execute for bp in first.binds.values())
        self.fallback = bool(
            first.insert_prefetch
            or first.update_prefetch
            or first.escaped_bind_names
            or per_call_lists
        )
        compiled = first
        if "POSTCOMPILE" in str(first) and not self.fallback:
            # literal IN lists (the partial-index predicates) rendered once; expanding
            # parameters whose values change per call keep the statement on SQLAlchemy
            dummy = stmt.params(dict.fromkeys(required)) if required else stmt
            try:
                compiled = dummy.compile(
                    dialect=dialect,
                    column_keys=keys,
                    compile_kwargs={"render_postcompile": True},
                )
            except sa.exc.SQLAlchemyError:
                self.fallback = True
        self.sql: str = str(compiled)
        self.positional: bool = bool(compiled.positional)
        defaults: dict[str, Any] = {}
        if compiled._post_compile_expanded_state is not None:
            defaults = dict(compiled._post_compile_expanded_state.parameters)
        elif not self.fallback:
            defaults = compiled.construct_params(_check=False)
        if self.positional:
            names = list(compiled.positiontup or ())
        elif compiled._post_compile_expanded_state is not None:
            names = list(defaults)  # the expanded names (status_1_1, ...) as rendered
        else:
            names = list(compiled.binds)
        procs = compiled._bind_processors
        sqlite = dialect.name == "sqlite"
        self.binds: list[tuple[str, Any, Processor]] = [
            (
                n,
                _MISSING if n in required else defaults.get(n),
                _bind_processor(compiled.binds.get(n), procs.get(n), sqlite),
            )
            for n in names
        ]
        cols = compiled._result_columns or []
        self.row: type[Row] = _row_class([c.keyname for c in cols])
        self.result_procs: list[Processor] = [
            UTCDateTime.sqlite_result
            if sqlite and isinstance(c.type, UTCDateTime)
            else c.type._cached_result_processor(dialect, None)
            for c in cols
        ]

    def values(self, params: Mapping[str, Any]) -> Any:
        out = []
        for name, default, proc in self.binds:
            value = params[name] if default is _MISSING else params.get(name, default)
            # None goes through the processor too, as SQLAlchemy does (JSON stores 'null')
            out.append(proc(value) if proc is not None else value)
        if self.positional:
            return tuple(out)
        return {name: v for (name, _, _), v in zip(self.binds, out, strict=True)}

    def rows(self, raw: list[Any]) -> list[Row]:
        procs = self.result_procs
        make = self.row
        if not any(procs):
            return [make(r) for r in raw]
        return [make(_apply(procs, r)) for r in raw]


def _bind_processor(bind: Any, proc: Processor, sqlite: bool) -> Processor:
    """SQLAlchemy's processor for a bind, or one call doing the same for UTC datetimes on
    SQLite (two processors and a dict format there: a tenth of a statement's binding cost)."""
    if sqlite and proc is not None and bind is not None and isinstance(bind.type, UTCDateTime):
        return UTCDateTime.sqlite_bind
    return proc


def _apply(procs: list[Processor], values: Sequence[Any]) -> list[Any]:
    return [
        p(v) if p is not None and v is not None else v for p, v in zip(procs, values, strict=True)
    ]


class Prepared:
    """A module-level Core statement run with :meth:`run` (one row of parameters) or
    :meth:`run_many` (many, no result rows)."""

    __slots__ = ("_dml", "_forms", "stmt")

    def __init__(self, stmt: Executable) -> None:
        self.stmt = stmt
        # By dialect *instance*, not name: a column type's processors are bound to the dialect
        # they were compiled for, and the sealing types (hub.store.crypto_types) find their
        # engine's cipher through it. One engine per process in production; tests make many.
        self._forms: dict[tuple[Dialect, frozenset[str] | None], _Form] = {}
        self._dml = isinstance(stmt, sa.Insert | sa.Update)

    def _form(self, dialect: Dialect, params: Mapping[str, Any]) -> _Form:
        keys = frozenset(params) if self._dml else None
        key = (dialect, keys)
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = _Form(self.stmt, dialect, sorted(keys) if keys else None)
        return form

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Rows:
        params = params or {}
        form = self._form(conn.dialect, params)
        if form.fallback:
            result = conn.execute(self.stmt, dict(params))
            rows = [form.row(r) for r in result] if result.returns_rows else []
            return Rows(rows, result.rowcount)
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.execute(form.sql, form.values(params))
            raw = cur.fetchall() if cur.description is not None else []
            return Rows(form.rows(raw), cur.rowcount)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, form.sql, exc) from exc
        finally:
            cur.close()

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        form = self._form(conn.dialect, rows[0])
        if form.fallback:
            conn.execute(self.stmt, [dict(r) for r in rows])
            return
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.executemany(form.sql, [form.values(r) for r in rows])
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, form.sql, exc) from exc
        finally:
            cur.close()


def _wrapped(conn: Connection, sql: str, exc: Any) -> sa.exc.StatementError:
    dialect = conn.dialect
    gone = bool(dialect.is_disconnect(exc, conn.connection.dbapi_connection, None))
    if gone:
        conn.invalidate(exc)
    wrapped: sa.exc.StatementError = DBAPIError.instance(
        sql,
        None,
        exc,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,  # parameters carry raw messages (PHI)
        connection_invalidated=gone,
        dialect=dialect,
    )
    return wrapped


# Prepared forms of module-level statements, by identity. Bounded: a statement built per call
# and passed here by mistake costs a compile each time, never unbounded memory.
_CACHE: dict[int, Prepared] = {}
_CACHE_LIMIT = 2048


def _prepared(stmt: Executable) -> Prepared:
    found = _CACHE.get(id(stmt))
    if found is None or found.stmt is not stmt:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        found = _CACHE[id(stmt)] = Prepared(stmt)
    return found


def run(conn: Connection, stmt: Executable, params: Mapping[str, Any] | None = None) -> Rows:
    """Run a module-level statement the fast way (see the module docstring)."""
    return _prepared(stmt).run(conn, params)


def run_many(conn: Connection, stmt: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
    """``executemany`` of a module-level statement, no result rows."""
    _prepared(stmt).run_many(conn, rows)
