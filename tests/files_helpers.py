"""Helpers for the files and vector-store suites."""

import asyncio
import time
from typing import Any

from openai import OpenAI
from sqlalchemy import text

from threadline.storage.database import Database

DOCS = {
    "capybara.md": b"# Capybaras\nThe capybara is the largest living rodent, from South America.",
    "volcano.txt": b"Mount Etna is an active stratovolcano on the east coast of Sicily.",
    "tea.json": b'{"topic": "tea", "fact": "Oolong tea is partially oxidised before drying."}',
}


def upload(client: OpenAI, name: str, content: bytes, purpose: str = "assistants") -> str:
    return client.files.create(file=(name, content), purpose=purpose).id  # type: ignore[arg-type]


def wait_until_settled(client: OpenAI, store_id: str, timeout: float = 20.0) -> Any:
    """The store once no file is in progress (``status`` completed or expired)."""
    deadline = time.monotonic() + timeout
    while True:
        store = client.vector_stores.retrieve(store_id)
        if store.file_counts.in_progress == 0 or time.monotonic() > deadline:
            return store
        time.sleep(0.05)


def counts(store: Any) -> dict[str, int]:
    return store.file_counts.model_dump()  # type: ignore[no-any-return]


def sql(database_url: str, statement: str, **params: Any) -> None:
    """Run one statement against the server's database (to age an object, say)."""

    async def run() -> None:
        database = Database(database_url)
        try:
            await database.write(lambda connection: connection.execute(text(statement), params))
        finally:
            await database.dispose()

    asyncio.run(run())
