"""``rewrite_query`` for vector-store search: the user's sentence without its conversational frame.

OpenAI rewrote such queries with a model ("I'd like to know the height of the main office
building" → "primary office building height"). Threadline does it without one, offline and in
microseconds: polite openers ("please", "can you tell me", "I'd like to know") and the closing
question mark go, the rest stays as written. This raises recall on the retrieval benchmark;
reducing queries further to their keywords lowered it, because the embedding model reads whole
sentences better than word lists (docs/benchmarks.md#retrieval-quality). The rewritten
text is what gets searched and what the results page's ``search_query`` shows."""

import re

# Openers that only make a sentence polite; matched at the start, case-insensitively, repeatedly
# ("please, could you tell me ...").
_OPENERS = re.compile(
    r"^(?:\s|[,;:!-])*(?:please|hi|hello|hey|so|ok(?:ay)?|"
    r"(?:can|could|would|will) you (?:please )?"
    r"(?:tell|show|explain to|help) (?:me|us)(?: with| about)?|"
    r"(?:can|could|would|will) you (?:please )?(?:find|explain|describe|list|check)|"
    r"(?:i|we)(?:'d| would) (?:like|love|want) to (?:know|learn|understand|find out)(?: about)?|"
    r"(?:i|we) (?:want|need|wish) to (?:know|learn|understand|find out)(?: about)?|"
    r"(?:i|we) (?:wonder|am wondering|was wondering|were wondering)(?: about)?|"
    r"do you know|(?:tell|show) me(?: about)?|search for|look up)\b",
    re.IGNORECASE,
)
_CLOSING = "?!. \t\n"


def rewrite_query(query: str) -> str:
    """The query without polite openers and closing punctuation; as given if nothing is left."""
    text = query.strip()
    while True:
        shorter = _OPENERS.sub("", text, count=1).lstrip(" ,;:!-")
        if shorter == text:
            break
        text = shorter
    return text.rstrip(_CLOSING) or query
