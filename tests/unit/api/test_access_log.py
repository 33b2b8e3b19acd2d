"""Query-string tokens are redacted from uvicorn's access log lines."""

from __future__ import annotations

import logging

from siaga.api.access_log import RedactQueryTokens


def _record(*args: object) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                             '%s - "%s %s HTTP/%s" %d', args, None)


def test_access_token_in_path_is_redacted() -> None:
    record = _record("127.0.0.1:5000", "GET", "/api/v1/stream?x=1&access_token=sgs_SECRET&y=2",
                     "1.1", 200)
    assert RedactQueryTokens().filter(record)
    line = record.getMessage()
    assert "sgs_SECRET" not in line
    assert "/api/v1/stream?x=1&access_token=REDACTED&y=2" in line


def test_other_lines_are_unchanged() -> None:
    record = _record("127.0.0.1:5000", "GET", "/healthz", "1.1", 200)
    RedactQueryTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200'
