"""Checks on ``tool_resources`` shared by assistants and threads."""

from threadline.errors import InvalidRequest
from threadline.schemas.common import ToolResources


def check_tool_resources(resources: ToolResources | None) -> None:
    file_search = resources.file_search if resources else None
    if file_search is None:
        return
    if file_search.vector_store_ids and file_search.vector_stores:
        raise InvalidRequest(
            "Only one of 'vector_store_ids' or 'vector_stores' may be provided.",
            param="tool_resources.file_search",
        )
    if file_search.vector_stores:
        # The helper creates a vector store; that arrives with the vector stores API.
        raise InvalidRequest(
            "Creating a vector store through 'tool_resources.file_search.vector_stores' is not "
            "supported by this server yet; create the vector store first and pass "
            "'vector_store_ids'.",
            param="tool_resources.file_search.vector_stores",
        )
