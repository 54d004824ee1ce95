"""The parser process (see ``isolation.py``): limits itself, parses one file, prints the outcome.

python -m threadline.providers.documents.child PATH FILENAME MEMORY_BYTES CPU_SECONDS MAX_CHARS
"""

import logging
import resource
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    path, filename, memory, cpu, max_chars = argv
    resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))
    resource.setrlimit(resource.RLIMIT_CPU, (int(cpu), int(cpu) + 1))
    # pypdf logs every repaired defect of a damaged file; the outcome says what matters.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)

    import orjson

    from threadline.providers.documents.errors import DocumentRejected
    from threadline.providers.documents.parsers import parse_document

    try:
        text = parse_document(Path(path), filename)
        if len(text) > int(max_chars):
            raise DocumentRejected("invalid_file", "The file holds too much text to index.")
        outcome: dict[str, str] = {"text": text}
    except DocumentRejected as rejected:
        outcome = {"code": rejected.code, "message": rejected.message}
    except MemoryError:
        outcome = {"code": "invalid_file", "message": "Parsing the file exceeded its memory limit."}
    except RecursionError:
        outcome = {"code": "invalid_file", "message": "The file is nested too deeply to parse."}
    except Exception:  # any other parser failure is this file's problem, not the server's
        outcome = {"code": "invalid_file", "message": "The file could not be parsed."}
    sys.stdout.buffer.write(orjson.dumps(outcome))


if __name__ == "__main__":
    main(sys.argv[1:])
