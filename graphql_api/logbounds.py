"""Log records of bounded size, whatever a request carried.

A message or traceback can quote what a client sent (an argument in an exception, a query string in an
access line); a client that sends a megabyte must not be able to write a megabyte, or four, into the log.
Installed on the handlers (not the loggers), so it bounds every record that reaches a handler, from any
logger: ours, strawberry's, tortoise's, uvicorn's.
"""

from __future__ import annotations

import logging

MAX_MESSAGE_CHARS = 2000
MAX_TRACEBACK_CHARS = 16000


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    # A traceback's end says what failed; its start, where. Keep both.
    head, tail = limit // 4, limit - limit // 4
    return f"{text[:head]}\n… [{len(text) - limit} characters cut] …\n{text[-tail:]}"


class BoundedRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > MAX_MESSAGE_CHARS:
            record.msg, record.args = _bounded(message, MAX_MESSAGE_CHARS), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Line by line first, so the last line (the exception and its message) keeps its type.
            lines = (_bounded(line, MAX_MESSAGE_CHARS) for line in record.exc_text.splitlines())
            record.exc_text = _bounded("\n".join(lines), MAX_TRACEBACK_CHARS)
        return True
