"""The typed records name exactly the columns of the tables they stand for: a column added to a
table (or a key to a record) without the other fails here, not in a client's response."""

import pytest
from sqlalchemy import Table

from threadline.records.files import (
    FileBatchRecord,
    FileRecord,
    RemovalRecord,
    VectorStoreFileRecord,
    VectorStoreRecord,
)
from threadline.records.gateway import (
    BilledRun,
    CachedResponse,
    KeyRecord,
    ProjectRecord,
    RequestLogRecord,
    UsageTotals,
)
from threadline.records.items import ItemRow
from threadline.records.response_rows import StoredResponse
from threadline.records.runs import RunRecord, StepRecord
from threadline.records.threads import AssistantRecord, MessageRecord, ThreadRecord
from threadline.storage.cache_tables import ResponseCacheRow
from threadline.storage.file_tables import (
    FileBatchRow,
    FileRow,
    PendingRemovalRow,
    VectorStoreFileRow,
    VectorStoreRow,
)
from threadline.storage.item_tables import ItemTableRow
from threadline.storage.tables import (
    ApiKeyRow,
    AssistantRow,
    BilledRunRow,
    MessageRow,
    ProjectRow,
    RequestLogRow,
    ResponseRow,
    RunRow,
    RunStepRow,
    ThreadRow,
    UsageRow,
)

PAIRS = [
    (AssistantRecord, AssistantRow),
    (ThreadRecord, ThreadRow),
    (MessageRecord, MessageRow),
    (RunRecord, RunRow),
    (StepRecord, RunStepRow),
    (FileRecord, FileRow),
    (VectorStoreRecord, VectorStoreRow),
    (VectorStoreFileRecord, VectorStoreFileRow),
    (FileBatchRecord, FileBatchRow),
    (RemovalRecord, PendingRemovalRow),
    (ProjectRecord, ProjectRow),
    (KeyRecord, ApiKeyRow),
    (UsageTotals, UsageRow),
    (RequestLogRecord, RequestLogRow),
    (BilledRun, BilledRunRow),
    (ItemRow, ItemTableRow),
    (StoredResponse, ResponseRow),
    (CachedResponse, ResponseCacheRow),
]


@pytest.mark.parametrize(("record", "row"), PAIRS, ids=[record.__name__ for record, _ in PAIRS])
def test_a_record_has_the_columns_of_its_table(record: type, row: type) -> None:
    table: Table = row.__table__  # type: ignore[attr-defined]
    keys = record.__required_keys__ | record.__optional_keys__  # type: ignore[attr-defined]
    assert keys == {column.name for column in table.columns}
