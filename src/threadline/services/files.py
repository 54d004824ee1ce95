"""Files: store (after the API streamed the upload into the blob store), retrieve, list, delete
(the bytes and every vector store's entries go with it), download, expiry."""

from collections.abc import AsyncIterator

from threadline import clock
from threadline.errors import InvalidRequest, NotFound
from threadline.providers.blobs.base import BlobStore
from threadline.records.files import FileRecord, RemovalRecord, VectorStoreFileRecord
from threadline.schemas import file_objects, objects
from threadline.schemas.file_objects import FileDeleted, FileObject
from threadline.schemas.objects import ListPage
from threadline.schemas.vector_stores import UploadForm
from threadline.services.removals import Removals
from threadline.storage import store_files
from threadline.storage.database import Connection, Database
from threadline.storage.files import FileRepository, owe_removal, past_expiry
from threadline.storage.pagination import PageRequest

_files = FileRepository()


class FileService:
    def __init__(
        self,
        database: Database,
        blobs: BlobStore,
        removals: Removals,
        *,
        project_storage_limit: int | None = None,
    ) -> None:
        self._db = database
        self._blobs = blobs
        self._removals = removals
        # Bytes of live files a project may keep (uploads beyond it are refused); None: no limit.
        self._storage_limit = project_storage_limit

    async def check_room(self, project_id: str) -> None:
        """Before an upload's body is read: 400 if the project is already at its limit."""
        if self._storage_limit is not None:
            await self._db.read(_check_room, project_id, 0, self._storage_limit, clock.now())

    async def create(
        self, project_id: str, file_id: str, *, filename: str, size: int, form: UploadForm
    ) -> FileObject:
        """Record a file whose bytes are already stored under ``file_id``."""
        now = clock.now()
        expires = form.expires_after
        record: FileRecord = {
            "id": file_id,
            "project_id": project_id,
            "created_at": now,
            "bytes": size,
            "filename": filename,
            "purpose": form.purpose,
            "status": "processed",
            "expires_at": now + expires.seconds if expires is not None else None,
        }
        created = file_objects.file_object(record)
        await self._db.write(_insert, record, self._storage_limit)
        return created

    async def retrieve(self, project_id: str, file_id: str) -> FileObject:
        return file_objects.file_object(await self._get(project_id, file_id))

    async def list(self, project_id: str, page: PageRequest, purpose: str | None) -> ListPage:
        result = await self._db.read(_files.list_live, project_id, page, purpose, clock.now())
        items = [file_objects.file_object(record) for record in result.items]
        return objects.list_page(items, result.has_more)

    async def delete(self, project_id: str, file_id: str) -> FileDeleted:
        owed = await self._db.write(_delete_file, project_id, file_id, clock.now(), False)
        await self._removals.carry_out(owed)
        return file_objects.file_deleted(file_id)

    async def content(
        self, project_id: str, file_id: str
    ) -> tuple[FileRecord, AsyncIterator[bytes]]:
        """The file's record and its bytes, streamed."""
        record = await self._get(project_id, file_id)
        return record, self._blobs.read(file_id)

    async def delete_expired(self, limit: int = 100) -> int:
        """Delete files past ``expires_at`` (the sweeper); how many."""
        expired = await self._db.read(_files.expired, clock.now(), limit)
        for record in expired:
            try:
                owed = await self._db.write(
                    _delete_file, record["project_id"], record["id"], clock.now(), True
                )
            except NotFound:
                continue  # deleted meanwhile
            await self._removals.carry_out(owed)
        return len(expired)

    async def _get(self, project_id: str, file_id: str) -> FileRecord:
        record = await self._db.read(_files.get_live, project_id, file_id, clock.now())
        if record is None:
            raise NotFound.object("file", file_id)
        return record


def _delete_file(
    connection: Connection, project_id: str, file_id: str, now: int, expired: bool
) -> list[RemovalRecord]:
    """Delete the file and take it out of every store (the counts follow); the removals owed.
    ``expired``: the sweeper deletes a file past its expiry, which users no longer see."""
    record = _files.get(connection, project_id, file_id)
    if record is None or (past_expiry(record, now) and not expired):
        raise NotFound.object("file", file_id)
    owed: list[RemovalRecord] = []
    rows = sorted(store_files.of_file(connection, project_id, file_id), key=_store_of)
    for row in rows:
        store_files.lock_store(connection, row["vector_store_id"])
        if store_files.remove(connection, row):
            store_id = row["vector_store_id"]
            owed.append(owe_removal(connection, now, store_id=store_id, file_id=file_id))
    _files.delete(connection, project_id, file_id)
    owed.append(owe_removal(connection, now, file_id=file_id))
    return owed


def _store_of(row: VectorStoreFileRecord) -> str:
    return str(row["vector_store_id"])


def _insert(connection: Connection, record: FileRecord, storage_limit: int | None) -> None:
    if storage_limit is not None:
        _files.serialize_project(connection, record["project_id"])
        _check_room(
            connection, record["project_id"], record["bytes"], storage_limit, record["created_at"]
        )
    _files.insert(connection, record)


def _check_room(
    connection: Connection, project_id: str, adding: int, storage_limit: int, now: int
) -> None:
    stored = _files.stored_bytes(connection, project_id, now)
    if stored + adding > storage_limit or (adding == 0 and stored >= storage_limit):
        raise InvalidRequest(
            f"This project's files would take {stored + adding:,} bytes, more than its storage "
            f"limit of {storage_limit:,} bytes. Delete files you no longer need, then retry.",
            param="file",
            code="storage_limit_exceeded",
        )
