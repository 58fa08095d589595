"""One log line per request, and the log format (JANGKAU_LOG_FORMAT: text or json).

Each request carries an id: the client's `X-Request-Id` when it is a sane token, else a new
one; it is echoed in the response's `X-Request-Id` and in the request's log line, so a client's
report can be found in the log.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class RequestLog:
    """The outermost middleware: times the request and logs it once it is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        status = 0   # 0: no answer was sent (the client left, or the answer broke off)
        began = time.perf_counter()

        async def stamped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-Id"] = rid
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        finally:
            ms = round((time.perf_counter() - began) * 1000, 1)
            line = dict(zip(FIELDS, (scope["method"], scope["path"], status, ms, rid),
                            strict=True))
            log.info("%s %s %s %.1f ms %s", *line.values(), extra=line)


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
