"""The official Node SDK's ``responses.stream`` (text deltas, the event order, the final
response) and a ``previous_response_id`` continuation against Threadline, run by
``tests/node/responses.mjs`` in a ``node`` process; skipped only when ``node`` is missing."""

from tests.node_scripts import needs_node, run_script
from tests.upstream import Text

pytestmark = needs_node


def test_node_streams_a_response_and_continues_it(server_url: str, api_key: str, upstream):
    upstream.script(Text(["Hel", "lo", "!"]), Text(["Then", " more."]))
    run = run_script(
        "responses.mjs", {"BASE_URL": f"{server_url}/v1", "API_KEY": api_key, "MODEL": "gpt-test"}
    )
    report = run.report
    assert run.ok, report

    assert report["deltas"] == ["Hel", "lo", "!"]
    assert report["types"] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = report["final"]
    assert (final["status"], final["output_text"], final["total_tokens"]) == (
        "completed",
        "Hello!",
        15,
    )
    assert final["id"].startswith("resp_")
    assert report["next"] == {
        "status": "completed",
        "output_text": "Then more.",
        "previous_response_id": final["id"],
    }
    # The continuation carried the first turn to the model.
    sent = upstream.requests[-1]["messages"]
    assert [m["content"] for m in sent] == ["Hi", "Hello!", "And then?"]
