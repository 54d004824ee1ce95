"""Rows of ``items`` (``storage.item_tables``): a conversation's items that are not thread
messages, kept as the SDK shows them (``body``) with the columns they are found by."""

from typing import TypedDict

from threadline.records.responses import Item


class ItemRow(TypedDict):
    id: str  # the item's id: fc_, fco_, fs_, ci_, rs_, or msg_ (system and developer messages)
    project_id: str
    thread_id: str
    # The id's creation key (``ids.creation_key``): where the item sorts among the thread's
    # messages and items.
    position: str
    response_id: str | None  # null for items added through /conversations/{id}/items
    run_id: str | None
    step_id: str | None
    type: str
    call_id: str | None  # a call's id, on a call and on its output; null otherwise
    status: str | None
    body: Item
    created_at: int


class ContextItemRow(ItemRow):
    """An item as a run's context reads it: with the model of the run that made it (null for
    an item a client sent)."""

    model: str | None
