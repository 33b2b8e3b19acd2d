"""Keeps bearer tokens given as ``?access_token=`` (EventSource) out of uvicorn's access log."""

from __future__ import annotations

import logging
import re

__all__ = ["RedactQueryTokens", "install_access_log_redaction"]

_TOKEN = re.compile(r"(access_token=)[^&\s]+")


class RedactQueryTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN.sub(r"\1REDACTED", a) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _TOKEN.sub(r"\1REDACTED", record.msg)
        return True


def install_access_log_redaction() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactQueryTokens())
