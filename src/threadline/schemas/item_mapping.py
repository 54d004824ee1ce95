"""One stored object, two APIs: a thread message is a conversation's message item, a run's usage
is a response's usage, a run's annotation is a response's annotation.

Messages keep the Assistants shape in the ``messages`` table (the thread view is the hot one and
stays as it is); these functions give the Responses view of them, and the way back for message
items a client adds through the Conversations or Responses API. Plain dicts in, plain dicts out
(no SDK model): the stream translator runs them per event."""

import posixpath
import re
from typing import cast

from threadline.records.responses import (
    ContainerFileCitation,
    ContentPart,
    FileCitation,
    InputFilePart,
    InputImagePart,
    ItemStatus,
    MessageItem,
    OutputAnnotation,
    OutputTextPart,
    ResponseUsageRecord,
)
from threadline.records.runs import RunUsage
from threadline.records.threads import Annotation, MessageRecord
from threadline.records.threads import ContentPart as ThreadPart

# file_search's source marker, 【call:result†file name】 (engine.tools.file_search).
_MARKER_FILENAME = re.compile(r"†([^】]*)】")


def usage(run_usage: RunUsage | None) -> ResponseUsageRecord | None:
    """A run's token counts as a response's ``usage`` (null while it runs)."""
    if run_usage is None:
        return None
    return {
        "input_tokens": run_usage["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": run_usage["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": run_usage["total_tokens"],
    }


def output_annotation(
    annotation: Annotation,
    filenames: dict[str, str] | None = None,
    container_id: str | None = None,
) -> OutputAnnotation | None:
    """A thread annotation as a response's: a ``file_citation`` names its file and the offset it
    stands at; a ``file_path`` (a file code wrote) becomes a ``container_file_citation``.
    ``filenames`` are the names the run's searches returned, by file id."""
    if annotation["type"] == "file_citation":
        file_id = annotation["file_citation"]["file_id"]
        name = (filenames or {}).get(file_id)
        if name is None:
            found = _MARKER_FILENAME.search(annotation["text"])
            name = found.group(1) if found else ""
        citation: FileCitation = {
            "type": "file_citation",
            "file_id": file_id,
            "filename": name,
            "index": annotation["start_index"],
        }
        return citation
    if container_id is None:
        return None
    path = annotation["text"].removeprefix("sandbox:")
    cited: ContainerFileCitation = {
        "type": "container_file_citation",
        "container_id": container_id,
        "file_id": annotation["file_path"]["file_id"],
        "filename": posixpath.basename(path),
        "start_index": annotation["start_index"],
        "end_index": annotation["end_index"],
    }
    return cited


def message_item(
    message: MessageRecord,
    filenames: dict[str, str] | None = None,
    container_id: str | None = None,
) -> MessageItem:
    """A thread message as a conversation's message item: a user's text is ``input_text``, an
    assistant's ``output_text`` with its annotations; images are ``input_image`` parts. Parts
    only the Responses API has (``input_file``) are stored as they came and shown as they are;
    attachments are ``input_file`` parts."""
    assistant = message["role"] == "assistant"
    content: list[ContentPart] = []
    for part in message["content"]:
        converted = _item_part(part, assistant, filenames, container_id)
        if converted is not None:
            content.append(converted)
    # Files attached for the Assistants' tools are files given with the message.
    for attachment in message["attachments"] or ():
        attached: InputFilePart = {"type": "input_file", "file_id": attachment["file_id"]}
        content.append(attached)
    status: ItemStatus = message["status"]
    return {
        "id": message["id"],
        "type": "message",
        "role": message["role"],
        "status": status,
        "content": content,
    }


def _item_part(
    part: ThreadPart | ContentPart,
    assistant: bool,
    filenames: dict[str, str] | None,
    container_id: str | None,
) -> ContentPart | None:
    if part["type"] == "text":
        value = part["text"]["value"]
        if not assistant:
            return {"type": "input_text", "text": value}
        annotations = [
            converted
            for annotation in part["text"]["annotations"]
            if (converted := output_annotation(annotation, filenames, container_id)) is not None
        ]
        text: OutputTextPart = {
            "type": "output_text",
            "text": value,
            "annotations": annotations,
            "logprobs": [],
        }
        return text
    if part["type"] == "image_file":
        image: InputImagePart = {
            "type": "input_image",
            "detail": part["image_file"].get("detail", "auto"),
            "file_id": part["image_file"]["file_id"],
            "image_url": None,
        }
        # An image a code_interpreter call drew: the call's item shows it, not the message.
        return None if assistant else image
    if part["type"] == "image_url":
        return {
            "type": "input_image",
            "detail": part["image_url"].get("detail", "auto"),
            "image_url": part["image_url"]["url"],
            "file_id": None,
        }
    # A Responses-only part, stored as it came (with what the server keeps for the model under
    # private keys, which are not shown).
    return cast(ContentPart, {k: v for k, v in part.items() if not k.startswith("_")})


def thread_content(parts: list[ContentPart] | str, role: str) -> list[ThreadPart | ContentPart]:
    """Message item content as a thread message stores it (the way back of ``message_item``).
    A string is one text part; ``output_text`` keeps its text (citations given by a client
    cannot point into our files and are dropped); ``input_file`` and ``refusal`` stay as they
    are (the thread view shows only the parts the Assistants API has)."""
    if isinstance(parts, str):
        return [{"type": "text", "text": {"value": parts, "annotations": []}}]
    stored: list[ThreadPart | ContentPart] = []
    for part in parts:
        if part["type"] in ("input_text", "output_text"):
            stored.append({"type": "text", "text": {"value": part["text"], "annotations": []}})
        elif part["type"] == "input_image":
            detail = part.get("detail") or "auto"
            file_id = part.get("file_id")
            url = part.get("image_url")
            if file_id:
                stored.append(
                    {"type": "image_file", "image_file": {"file_id": file_id, "detail": detail}}
                )
            elif url:
                stored.append({"type": "image_url", "image_url": {"url": url, "detail": detail}})
        else:
            stored.append(part)
    return stored
