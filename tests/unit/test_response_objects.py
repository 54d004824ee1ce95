"""Responses, conversations and items built from typed records as the SDK's types, with the
defaults OpenAI echoes; thread messages seen as message items and back."""

from typing import Any

from openai.types.conversations import ConversationItemList
from openai.types.responses import ResponseItemList

from tests.unit.test_response_stream import NOW, USAGE, response_record
from threadline.records.responses import Item, OutputItem
from threadline.records.threads import MessageRecord
from threadline.schemas.item_mapping import message_item, thread_content, usage
from threadline.schemas.objects import dump
from threadline.schemas.response_objects import (
    conversation,
    conversation_deleted,
    conversation_item,
    input_tokens,
    item_list,
    response,
    response_data,
    response_deleted,
    response_item,
)

MESSAGE: OutputItem = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "status": "completed",
    "content": [
        {
            "type": "output_text",
            "text": "See a.pdf.",
            "annotations": [
                {"type": "file_citation", "file_id": "file-9", "filename": "a.pdf", "index": 9}
            ],
            "logprobs": [],
        }
    ],
}
SEARCH: OutputItem = {
    "id": "fs_1",
    "type": "file_search_call",
    "status": "completed",
    "queries": ["dragon"],
    "results": [
        {"file_id": "file-9", "filename": "a.pdf", "score": 0.9, "text": "chunk", "attributes": {}}
    ],
}
CODE: OutputItem = {
    "id": "ci_1",
    "type": "code_interpreter_call",
    "status": "completed",
    "container_id": "cntr_1",
    "code": "print(2+2)",
    "outputs": [{"type": "logs", "logs": "4\n"}],
}
CALL: OutputItem = {
    "id": "fc_1",
    "type": "function_call",
    "call_id": "call_1",
    "name": "get_weather",
    "arguments": '{"city":"Paris"}',
    "status": "completed",
}
REASONING: OutputItem = {
    "id": "rs_1",
    "type": "reasoning",
    "summary": [{"type": "summary_text", "text": "thinking"}],
    "encrypted_content": "secret",
    "status": "completed",
}


def test_a_new_response_has_openais_defaults() -> None:
    data = response_data(response_record())
    assert data["object"] == "response"
    assert data["text"] == {"format": {"type": "text"}}
    assert data["reasoning"] == {"effort": None, "summary": None}
    assert data["tool_choice"] == "auto" and data["metadata"] == {}
    assert data["temperature"] == 1.0 and data["top_p"] == 1.0
    assert data["usage"] is None and data["output"] == [] and data["error"] is None
    for key in (
        "background",
        "completed_at",
        "conversation",
        "max_output_tokens",
        "previous_response_id",
        "store",
        "truncation",
        "user",
    ):
        assert key in data
    assert "output_text" not in data  # the SDK computes it


def test_the_wire_dict_is_what_the_sdk_model_dumps() -> None:
    record = response_record(
        status="completed",
        completed_at=NOW + 2,
        output=[SEARCH, CODE, CALL, REASONING, MESSAGE],
        usage=usage(USAGE),  # type: ignore[arg-type]
        conversation={"id": "conv_1"},
        metadata={"k": "v"},
        instructions="Be brief.",
        tools=[
            {
                "type": "function",
                "name": "get_weather",
                "description": None,
                "parameters": {"type": "object"},
                "strict": True,
            }
        ],
    )
    include = frozenset({"file_search_call.results", "code_interpreter_call.outputs"})
    model = response(record, include)
    assert dump(model) == response_data(record, include)
    assert model.output_text == "See a.pdf."
    assert model.usage is not None and model.usage.input_tokens_details.cached_tokens == 0


def test_include_gates_results_outputs_and_encrypted_content() -> None:
    record = response_record(status="completed", output=[SEARCH, CODE, REASONING])
    plain = response_data(record)["output"]
    assert [
        item["results" if i == 0 else "outputs" if i == 1 else "encrypted_content"]
        for i, item in enumerate(plain)
    ] == [None, None, None]  # type: ignore[index]
    full = response_data(
        record,
        frozenset(
            {
                "file_search_call.results",
                "code_interpreter_call.outputs",
                "reasoning.encrypted_content",
            }
        ),
    )["output"]
    assert full[0]["results"][0]["filename"] == "a.pdf"  # type: ignore[index]
    assert full[1]["outputs"] == [{"type": "logs", "logs": "4\n"}]  # type: ignore[index]
    assert full[2]["encrypted_content"] == "secret"  # type: ignore[index]
    assert SEARCH["results"] is not None  # the record itself is left as it was


def test_failed_and_incomplete_responses() -> None:
    failed = response(
        response_record(status="failed", error={"code": "server_error", "message": "boom"})
    )
    assert failed.error is not None and failed.error.code == "server_error"
    cut = response(
        response_record(status="incomplete", incomplete_details={"reason": "max_output_tokens"})
    )
    assert (
        cut.incomplete_details is not None and cut.incomplete_details.reason == "max_output_tokens"
    )


def thread_message(role: str, content: list[Any], status: str = "completed") -> MessageRecord:
    return {  # type: ignore[return-value]
        "id": "msg_7",
        "project_id": "proj_1",
        "thread_id": "thread_1",
        "created_at": NOW,
        "status": status,
        "incomplete_details": None,
        "completed_at": NOW,
        "incomplete_at": None,
        "role": role,
        "content": content,
        "assistant_id": None,
        "run_id": None,
        "attachments": [],
        "metadata": {},
    }


def test_a_thread_message_is_a_conversation_item() -> None:
    user = message_item(
        thread_message(
            "user",
            [
                {"type": "text", "text": {"value": "Hi", "annotations": []}},
                {"type": "image_file", "image_file": {"file_id": "file-1", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            ],
        )
    )
    assert user["content"][0] == {"type": "input_text", "text": "Hi"}
    assert user["content"][1]["type"] == "input_image" and user["content"][1]["file_id"] == "file-1"  # type: ignore[typeddict-item]
    shown = conversation_item(user)
    assert shown.type == "message" and shown.role == "user" and shown.status == "completed"  # type: ignore[union-attr]

    marker = "【0:0†a.pdf】"
    annotation = {
        "type": "file_citation",
        "text": marker,
        "start_index": 4,
        "end_index": 4 + len(marker),
        "file_citation": {"file_id": "file-9"},
    }
    link = "sandbox:/mnt/data/p.png"
    path = {
        "type": "file_path",
        "text": link,
        "start_index": 20,
        "end_index": 20 + len(link),
        "file_path": {"file_id": "file-3"},
    }
    answer = message_item(
        thread_message(
            "assistant",
            [
                {
                    "type": "text",
                    "text": {
                        "value": f"See {marker} and {link}",
                        "annotations": [annotation, path],
                    },
                },
                {"type": "image_file", "image_file": {"file_id": "file-4"}},
            ],
        ),
        container_id="cntr_1",
    )
    (part,) = answer["content"]  # the drawn image is the code call's, not the message's
    assert part["type"] == "output_text"
    assert part["annotations"] == [  # type: ignore[typeddict-item]
        {"type": "file_citation", "file_id": "file-9", "filename": "a.pdf", "index": 4},
        {
            "type": "container_file_citation",
            "container_id": "cntr_1",
            "file_id": "file-3",
            "filename": "p.png",
            "start_index": 20,
            "end_index": 20 + len(link),
        },
    ]
    assert conversation_item(answer).type == "message"


def test_message_item_content_stored_as_a_thread_message() -> None:
    assert thread_content("Hi", "user") == [
        {"type": "text", "text": {"value": "Hi", "annotations": []}}
    ]
    stored = thread_content(
        [
            {"type": "input_text", "text": "a"},
            {"type": "input_image", "detail": "auto", "file_id": "file-1"},
            {"type": "input_image", "detail": "high", "image_url": "https://x"},
            {"type": "input_file", "file_id": "file-2"},
        ],
        "user",
    )
    assert [part["type"] for part in stored] == ["text", "image_file", "image_url", "input_file"]
    # And back: the same item, an input_file part shown as it came.
    back = message_item(thread_message("user", stored))
    assert [part["type"] for part in back["content"]] == [
        "input_text",
        "input_image",
        "input_image",
        "input_file",
    ]


def test_item_lists_as_the_sdk_reads_them() -> None:
    user_input: Item = {
        "id": "fco_1",
        "type": "function_call_output",
        "call_id": "call_1",
        "output": "18C",
        "status": "completed",
    }
    items: list[Item] = [MESSAGE, CALL, user_input, SEARCH]
    page = item_list(items, has_more=True)
    assert (page["first_id"], page["last_id"], page["has_more"]) == ("msg_1", "fs_1", True)
    listed = ConversationItemList.model_validate(page)
    assert [item.type for item in listed.data] == [
        "message",
        "function_call",
        "function_call_output",
        "file_search_call",
    ]
    ResponseItemList.model_validate(page)
    assert item_list([], has_more=False)["first_id"] is None
    assert response_item(CALL).type == "function_call"


def test_conversation_objects() -> None:
    shown = conversation({"id": "thread_1", "created_at": NOW, "metadata": None})
    assert dump(shown) == {
        "id": "thread_1",
        "object": "conversation",
        "created_at": NOW,
        "metadata": {},
    }
    assert dump(conversation_deleted("conv_1")) == {
        "id": "conv_1",
        "object": "conversation.deleted",
        "deleted": True,
    }
    assert response_deleted("resp_1") == {
        "id": "resp_1",
        "object": "response.deleted",
        "deleted": True,
    }
    assert input_tokens(12) == {"object": "response.input_tokens", "input_tokens": 12}


def test_usage_is_null_until_there_is_one() -> None:
    assert usage(None) is None
    assert usage(USAGE) == {  # type: ignore[arg-type]
        "input_tokens": 36,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 87,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 123,
    }
