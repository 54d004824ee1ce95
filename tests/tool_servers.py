"""A server with built-in tools of a test's choosing (stand-ins for file_search and
code_interpreter whose real backends have suites of their own), on SQLite."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import MASTER_KEY, new_project_key
from tests.databases import sqlite_database
from tests.servers import threaded_server
from tests.upstream import ScriptedUpstream
from threadline.engine.tools.base import ServerTool
from threadline.settings import Settings


@contextmanager
def server_with_tools(
    upstream: ScriptedUpstream, data_dir: Path, tools: Sequence[ServerTool]
) -> Iterator[str]:
    with sqlite_database() as database_url:
        settings = Settings(
            data_dir=data_dir,
            database_url=database_url,
            master_key=MASTER_KEY,
            upstream_base_url=upstream.base_url,
            upstream_api_key=upstream.api_key,
            upstream_max_retries=0,
        )
        with threaded_server(settings, server_tools=tools) as url:
            yield url


def project_key(server_url: str) -> str:
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=server_url, headers=headers) as admin:
        return new_project_key(admin)
