"""Vector-store storage billed per GB-day beyond the free allowance, each hour once, on both
databases: however many replicas (meters) or restarts see the hour."""

import asyncio

import pytest
from sqlalchemy import text

from tests.databases import database
from threadline.gateway.pricing import VECTOR_STORE_GB_DAYS, Charges, PriceTable
from threadline.services.storage_meter import BYTES_PER_GB, StorageMeter
from threadline.storage.database import Database
from threadline.storage.migrate import upgrade_to_head

HOUR = 1_700_000_000 // 3600 * 3600
STORES = [
    ("vs_big", "proj_big", 3 * BYTES_PER_GB, None),  # 3 GB: 2 billable
    ("vs_big2", "proj_big", BYTES_PER_GB // 2, None),  # same project: 3.5 GB in all
    ("vs_small", "proj_small", BYTES_PER_GB // 2, None),  # within the free GB
    ("vs_gone", "proj_gone", 9 * BYTES_PER_GB, 1),  # expired: not billed
]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_each_hour_is_billed_once_beyond_the_free_gigabyte(backend: str) -> None:
    with database(backend) as url:
        upgrade_to_head(url)
        asyncio.run(_meter(url))


async def _meter(url: str) -> None:
    db = Database(url)
    charged: list[tuple[str, str | None, str, float]] = []

    async def charge(project_id: str, key_id: str | None, meter: str, quantity: float) -> int:
        charged.append((project_id, key_id, meter, quantity))
        return 0

    try:
        await db.write(_insert_stores)
        prices = PriceTable({}, charges=Charges(vector_store_free_gb=1))
        replicas = [StorageMeter(db, charge, prices.billable_gb_days) for _ in range(2)]
        for meter in replicas:
            await meter.meter_hour(HOUR)
        assert charged == [("proj_big", None, VECTOR_STORE_GB_DAYS, pytest.approx(2.5 / 24))]
        await replicas[0].meter_hour(HOUR + 3600)
        assert len(charged) == 2
    finally:
        await db.dispose()


def _insert_stores(connection: object) -> None:
    for store_id, project_id, size, expired_at in STORES:
        connection.execute(  # type: ignore[attr-defined]
            text(
                "INSERT INTO vector_stores (id, project_id, created_at, usage_bytes,"
                " files_in_progress, files_completed, files_failed, files_cancelled, files_total,"
                " expired_at) VALUES (:id, :project, 0, :size, 0, 0, 0, 0, 0, :expired)"
            ),
            {"id": store_id, "project": project_id, "size": size, "expired": expired_at},
        )
