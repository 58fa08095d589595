"""A lean keep-alive HTTP client, so the client's own cost adds as little as it can to the
server's time (a heavier client would count against every server measured over HTTP)."""

from __future__ import annotations

import http.client
from typing import Any

import orjson

from bench import BenchError

HOST = "127.0.0.1"


class Http:
    """One persistent connection to a server on loopback; not for sharing between threads."""

    def __init__(self, port: int, timeout: float = 120.0,
                 headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.timeout = timeout
        self.headers = headers or {}     # sent with every request
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Status and body; reconnects once when the server closed the idle connection."""
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=body,
                                   headers={**self.headers, **(headers or {})})
                resp = self._conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class GraphQL:
    """POSTs GraphQL documents; any error in the answer is a BenchError."""

    def __init__(self, http: Http, path: str = "/graphql") -> None:
        self.http = http
        self.path = path

    @staticmethod
    def body(query: str, variables: dict[str, Any] | None = None) -> bytes:
        return orjson.dumps({"query": query, "variables": variables or {}})

    def _send(self, body: bytes) -> tuple[int, bytes]:
        return self.http.request("POST", self.path, body, {"Content-Type": "application/json"})

    def _data(self, status: int, raw: bytes) -> dict[str, Any]:
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BenchError(f"HTTP {status} from :{self.http.port}{self.path}: "
                             f"{raw[:300]!r}") from None
        if status != 200 or answer.get("errors"):
            raise BenchError(f"HTTP {status} from :{self.http.port}{self.path}: "
                             f"{str(answer.get('errors', answer))[:500]}")
        data: dict[str, Any] = answer["data"]
        return data

    def post(self, body: bytes) -> dict[str, Any]:
        return self._data(*self._send(body))

    def post_unparsed(self, body: bytes) -> bytes:
        """The answer's bytes, for answers so big that parsing them would time the client, not
        the server. Checked cheaply: a 200 with `data` first and no `errors` member at the end
        (where the server writes it)."""
        status, raw = self._send(body)
        if status != 200 or not raw.startswith(b'{"data":{') or b'"errors":' in raw[-4096:]:
            self._data(status, raw)
            raise BenchError(f"unexpected answer from :{self.http.port}: {raw[:300]!r}")
        return raw

    def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.post(self.body(query, variables))
