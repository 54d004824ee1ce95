"""Everything a running server holds: settings, the database, the services built on them."""

from dataclasses import dataclass

from threadline.gateway.api_keys import KeyService
from threadline.services.assistants import AssistantService
from threadline.services.messages import MessageService
from threadline.services.threads import ThreadService
from threadline.settings import Settings
from threadline.storage.database import Database


@dataclass
class AppState:
    settings: Settings
    database: Database
    keys: KeyService
    assistants: AssistantService
    threads: ThreadService
    messages: MessageService

    @classmethod
    def build(cls, settings: Settings) -> "AppState":
        database = Database(settings.resolved_database_url, pool_size=settings.database_pool_size)
        return cls(
            settings=settings,
            database=database,
            keys=KeyService(database, cache_seconds=settings.key_cache_seconds),
            assistants=AssistantService(database),
            threads=ThreadService(database),
            messages=MessageService(database),
        )

    async def close(self) -> None:
        await self.database.dispose()
