"""One log line per request (written by graph.middleware.Edge once the request is answered),
and the log format (JANGKAU_LOG_FORMAT: text or json).

Each request carries an id: the client's `X-Request-Id` when it is a sane token, else a new
one; it is echoed in the response's `X-Request-Id` and in the request's log line, so a client's
report can be found in the log.
"""

from __future__ import annotations

import json
import logging
import random
import re
from typing import Any

from starlette.types import Scope

log = logging.getLogger("jangkau.http")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# The fields of a request's line, in order (also the JSON keys).
FIELDS = ("method", "path", "status", "duration_ms", "request_id")
# uvicorn adds `color_message`, the same message with terminal colours.
STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


def request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if REQUEST_ID.match(given):
                return given
    # Unique, not secret: no system call for randomness on every request (uuid4 makes one).
    return f"{random.getrandbits(128):032x}"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record), "level": record.levelname,
            "logger": record.name, "pid": record.process, "message": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in STANDARD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def log_config(fmt: str, level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for the server, uvicorn's loggers included."""
    formatter: dict[str, Any] = ({"()": JsonFormatter} if fmt == "json" else
                                 {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "default",
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {name: {"handlers": [], "propagate": True}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
