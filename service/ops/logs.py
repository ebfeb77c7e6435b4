"""Structured JSON logs, one object per line, with the request id; no phone numbers or tokens.

Redaction runs on every formatted message: mainland mobile numbers keep their first three and last
four digits (138****5678), bearer tokens and JWT-looking strings are replaced, and ``ticket=`` /
``access_token=`` query values are cut.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from service.common.request_id import request_id_var

_PHONE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_SECRET_PARAM = re.compile(r"(?i)((?:ticket|access_token|token|password)=)[^&\s\"']+")


def redact(text: str) -> str:
    text = _JWT.sub("[token]", text)
    text = _BEARER.sub(r"\1[token]", text)
    text = _SECRET_PARAM.sub(r"\1[redacted]", text)
    return _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key in ("method", "route", "path", "status", "duration_ms", "client"):
            if hasattr(record, key):
                entry[key] = redact(v) if isinstance(v := getattr(record, key), str) else v
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for our loggers (``neighborgrid.*`` and modules' ``service.*``) and
    uvicorn's; idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("neighborgrid", "service", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # our access log replaces it (no query strings)
