"""Why a document could not be read (the vector-store file's ``last_error``)."""

from typing import Literal

RejectionCode = Literal["unsupported_file", "invalid_file"]


class DocumentRejected(Exception):
    def __init__(self, code: RejectionCode, message: str) -> None:
        super().__init__(message)
        self.code: RejectionCode = code
        self.message = message
