"""Data access for files, vector stores, and the removals still owed after a delete."""

from typing import Any

from sqlalchemy import Connection, case, delete, func, insert, or_, select, update

from threadline import ids
from threadline.records.files import FileExpiry, FileRecord, RemovalRecord, VectorStoreRecord
from threadline.storage.file_tables import FileRow, PendingRemovalRow, VectorStoreRow
from threadline.storage.pagination import Page, PageRequest, finish_page, paginate
from threadline.storage.repositories import ScopedRepository, rows_of

_files = FileRow.__table__
_stores = VectorStoreRow.__table__
_removals = PendingRemovalRow.__table__

DAY_SECONDS = 86_400


def past_expiry(record: FileRecord, now: int) -> bool:
    return record["expires_at"] is not None and record["expires_at"] <= now


def _unexpired(expires_at: Any, now: int) -> Any:
    return or_(expires_at.is_(None), expires_at > now)


def _live(
    connection: Connection, table: Any, project_id: str, object_ids: list[str], *alive: Any
) -> set[str]:
    """Which of ``object_ids`` are the project's and satisfy ``alive``."""
    if not object_ids:
        return set()
    query = select(table.c.id).where(
        table.c.project_id == project_id, table.c.id.in_(set(object_ids)), *alive
    )
    return {row[0] for row in connection.execute(query)}


class FileRepository(ScopedRepository[FileRecord]):
    table = FileRow.__table__  # type: ignore[assignment]

    def get_live(
        self, connection: Connection, project_id: str, file_id: str, now: int
    ) -> FileRecord | None:
        """The file, unless it is missing, another project's, or past ``expires_at`` (an
        expired file is gone at once, even before the sweeper deletes it)."""
        record = self.get(connection, project_id, file_id)
        return None if record is None or past_expiry(record, now) else record

    def list_live(
        self,
        connection: Connection,
        project_id: str,
        page: PageRequest,
        purpose: str | None,
        now: int,
    ) -> Page[FileRecord]:
        query = select(_files).where(
            _files.c.project_id == project_id, _unexpired(_files.c.expires_at, now)
        )
        if purpose is not None:
            query = query.where(_files.c.purpose == purpose)
        result = connection.execute(paginate(query, _files.c.id, page))
        return finish_page(rows_of(result, FileRecord), page)

    def missing(
        self, connection: Connection, project_id: str, file_ids: list[str], now: int
    ) -> list[str]:
        """Those of ``file_ids`` that are not live files of the project, in the given order."""
        present = _live(
            connection, _files, project_id, file_ids, _unexpired(_files.c.expires_at, now)
        )
        return [file_id for file_id in file_ids if file_id not in present]

    def stored_bytes(self, connection: Connection, project_id: str, now: int) -> int:
        """What the project's live files take (uploaded and generated alike)."""
        query = select(func.coalesce(func.sum(_files.c.bytes), 0)).where(
            _files.c.project_id == project_id, _unexpired(_files.c.expires_at, now)
        )
        return int(connection.execute(query).scalar_one())

    def serialize_project(self, connection: Connection, project_id: str) -> None:
        """Until the transaction ends, other transactions calling this for the project wait
        (PostgreSQL; SQLite has one writer at a time anyway), so a check-then-insert such as
        the storage quota is exact under concurrent uploads."""
        if connection.dialect.name == "postgresql":
            connection.execute(
                select(func.pg_advisory_xact_lock(func.hashtextextended(project_id, 0)))
            )

    def expired(self, connection: Connection, now: int, limit: int) -> list[FileExpiry]:
        query = select(_files.c.id, _files.c.project_id).where(_files.c.expires_at <= now)
        return rows_of(connection.execute(query.limit(limit)), FileExpiry)


class VectorStoreRepository(ScopedRepository[VectorStoreRecord]):
    table = VectorStoreRow.__table__  # type: ignore[assignment]

    def live_ids(
        self, connection: Connection, project_id: str, store_ids: list[str], now: int
    ) -> list[str]:
        """Those of ``store_ids`` that are stores of the project and not expired, in order."""
        columns = _stores.c
        alive = (columns.expired_at.is_(None), _unexpired(columns.expires_at, now))
        present = _live(connection, _stores, project_id, store_ids, *alive)
        return [store_id for store_id in store_ids if store_id in present]

    def files_in_progress(
        self, connection: Connection, project_id: str, store_ids: list[str]
    ) -> int:
        """How many files of these stores are still being ingested."""
        if not store_ids:
            return 0
        query = select(func.coalesce(func.sum(_stores.c.files_in_progress), 0)).where(
            _stores.c.project_id == project_id, _stores.c.id.in_(set(store_ids))
        )
        return int(connection.execute(query).scalar_one())

    def touch(self, connection: Connection, store_ids: list[str], now: int) -> None:
        """The stores were used: ``last_active_at`` is now, and an expiry anchored on it moves."""
        if not store_ids:
            return
        columns = _stores.c
        connection.execute(
            update(_stores)
            .where(
                columns.id.in_(set(store_ids)),
                columns.expired_at.is_(None),
                _unexpired(columns.expires_at, now),
                or_(columns.last_active_at.is_(None), columns.last_active_at < now),
            )
            .values(
                last_active_at=now,
                expires_at=case(
                    (columns.expires_after_days.is_(None), None),
                    else_=now + columns.expires_after_days * DAY_SECONDS,
                ),
            )
        )

    def expire_due(self, connection: Connection, now: int) -> int:
        """Mark the stores past ``expires_at`` expired; how many were."""
        statement = (
            update(_stores)
            .where(_stores.c.expired_at.is_(None), _stores.c.expires_at <= now)
            .values(expired_at=now)
        )
        return int(connection.execute(statement).rowcount)


# --- removals owed after a delete -------------------------------------------------------------


def owe_removal(
    connection: Connection, now: int, *, store_id: str | None = None, file_id: str | None = None
) -> RemovalRecord:
    record: RemovalRecord = {
        "id": ids.new_id("rm_"),
        "created_at": now,
        "vector_store_id": store_id,
        "file_id": file_id,
    }
    connection.execute(insert(_removals), record)
    return record


def removals_done(connection: Connection, removal_ids: list[str]) -> None:
    if removal_ids:
        connection.execute(delete(_removals).where(_removals.c.id.in_(removal_ids)))


def removals_owed(connection: Connection, created_before: int, limit: int) -> list[RemovalRecord]:
    query = select(_removals).where(_removals.c.created_at < created_before)
    return rows_of(connection.execute(query.order_by(_removals.c.id).limit(limit)), RemovalRecord)


def stored_bytes_by_project(connection: Connection, now: int) -> list[tuple[str, int]]:
    """Each project's bytes held in its live vector stores (what storage is billed on)."""
    columns = _stores.c
    query = (
        select(columns.project_id, func.sum(columns.usage_bytes))
        .where(columns.expired_at.is_(None), _unexpired(columns.expires_at, now))
        .group_by(columns.project_id)
    )
    return [(project_id, int(total or 0)) for project_id, total in connection.execute(query)]
