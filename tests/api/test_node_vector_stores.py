"""The official Node SDK's vector-store helpers (``files.uploadAndPoll``,
``fileBatches.uploadAndPoll``), which poll ``status`` where the Python SDK polls counts, run by
``tests/node/vector_stores.mjs`` in a ``node`` process; skipped only when ``node`` is missing."""

from tests.node_scripts import needs_node, run_script

pytestmark = needs_node


def test_node_upload_and_poll_helpers(server_url: str, api_key: str):
    run = run_script("vector_stores.mjs", {"BASE_URL": f"{server_url}/v1", "API_KEY": api_key})
    report = run.report
    assert run.ok, report

    assert report["file"]["status"] == "completed"
    assert report["file"]["id"].startswith("file-")
    assert report["batch"]["status"] == "completed"
    assert report["batch"]["file_counts"] == {
        "in_progress": 0,
        "completed": 1,
        "failed": 1,
        "cancelled": 0,
        "total": 2,
    }
    assert report["store"]["file_counts"]["total"] == 3
    assert report["search"][0]["filename"] == "capybara.md"
    # A poll that found the file still in progress was told when to look again.
    polls = [r for r in report["requests"] if r["method"] == "GET" and "/files/" in r["path"]]
    assert all(r["status"] == 200 for r in polls)
