"""Vector-store file batches: their rows, and their progress summed over their files. A batch's
``files_*`` counters change with its files, in ``store_files``."""

from typing import cast

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update

from threadline.records.files import BatchProgress, BatchStatus, FileBatchRecord
from threadline.storage.file_tables import FileBatchRow, VectorStoreFileRow
from threadline.storage.repositories import Columns, rows_of

_batches: Table = FileBatchRow.__table__  # type: ignore[assignment]
_store_files: Table = VectorStoreFileRow.__table__  # type: ignore[assignment]


def insert_batch(connection: Connection, record: FileBatchRecord) -> None:
    connection.execute(insert(_batches), cast(Columns, record))


def get_batch(
    connection: Connection, project_id: str, store_id: str, batch_id: str
) -> FileBatchRecord | None:
    query = select(_batches).where(
        _batches.c.id == batch_id,
        _batches.c.project_id == project_id,
        _batches.c.vector_store_id == store_id,
    )
    found = rows_of(connection.execute(query), FileBatchRecord)
    return found[0] if found else None


_BATCH_PROGRESS = select(
    func.coalesce(func.sum(_store_files.c.chunks_done), 0),
    func.coalesce(func.sum(_store_files.c.chunks_total), 0),
    func.count(),
).where(
    _store_files.c.batch_id == bindparam("w_batch"),
    # Failed and cancelled files are out of the count: a batch ends with done == total.
    _store_files.c.status.in_(("in_progress", "completed")),
    _store_files.c.chunks_total.is_not(None),
)


def batch_progress(connection: Connection, batch_id: str) -> BatchProgress:
    """The chunks embedded so far and the chunks there are, summed over the batch's files in
    progress or completed that are chunked already, and how many files that is (the total
    grows as the others are parsed)."""
    done, total, files = connection.execute(_BATCH_PROGRESS, {"w_batch": batch_id}).one()
    return {"chunks_done": int(done), "chunks_total": int(total), "files_chunked": int(files)}


def set_batch_status(connection: Connection, batch_id: str, status: BatchStatus) -> None:
    connection.execute(update(_batches).where(_batches.c.id == batch_id).values(status=status))
