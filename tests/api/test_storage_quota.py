"""The per-project storage limit (``THREADLINE_PROJECT_STORAGE_LIMIT_BYTES``): an upload that
would take a project past it is a 400 that stores nothing, exact under concurrent uploads; other
projects are unaffected; deleting (or expiring) files makes room again."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY, new_project_key, sdk_client
from tests.files_helpers import sql, upload
from tests.servers import threaded_server
from threadline.settings import Settings

LIMIT = 1_000


@pytest.fixture(scope="module")
def small_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, httpx.Client]]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("quota"),
        database_url=database_url,
        master_key=MASTER_KEY,
        project_storage_limit_bytes=LIMIT,
    )
    with (
        threaded_server(settings) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as admin,
    ):
        yield url, admin


def test_an_upload_past_the_limit_is_refused_and_stores_nothing(small_server, database_url):
    url, admin = small_server
    with sdk_client(url, new_project_key(admin)) as client:
        first = upload(client, "a.txt", b"a" * 600)
        with pytest.raises(openai.BadRequestError) as refused:
            upload(client, "b.txt", b"b" * 600)
        error = refused.value.body
        assert isinstance(error, dict)
        assert error["code"] == "storage_limit_exceeded" and error["param"] == "file"
        assert "1,200 bytes" in error["message"] and "1,000 bytes" in error["message"]
        assert [f.id for f in client.files.list()] == [first]

        # Another project has its own room.
        with sdk_client(url, new_project_key(admin)) as other:
            upload(other, "c.txt", b"c" * 600)

        client.files.delete(first)
        second = upload(client, "b.txt", b"b" * 600)

        # An expired file takes no room (even before the sweeper removes it).
        sql(database_url, "UPDATE files SET expires_at = 1 WHERE id = :id", id=second)
        upload(client, "d.txt", b"d" * 999)
        with pytest.raises(openai.BadRequestError):
            upload(client, "e.txt", b"e" * 2)


def test_concurrent_uploads_never_exceed_the_limit(small_server):
    url, admin = small_server
    with sdk_client(url, new_project_key(admin)) as client:

        def attempt(index: int) -> bool:
            try:
                upload(client, f"{index}.txt", b"x" * 300)
            except openai.BadRequestError:
                return False
            return True

        with ThreadPoolExecutor(8) as pool:
            accepted = sum(pool.map(attempt, range(8)))
        assert accepted == 3
        assert sum(f.bytes for f in client.files.list()) == 900
