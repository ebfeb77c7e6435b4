"""A real Server-Sent Events client for tests: reads the stream in a thread, parses events."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass

import httpx


@dataclass
class SseEvent:
    id: int | None
    event: str
    data: dict


class SseReader:
    """Connects to ``url`` and queues every event until ``close()``."""

    def __init__(
        self, base_url: str, path: str, *, headers: dict[str, str] | None = None, params: dict | None = None
    ) -> None:
        self.events: queue.Queue[SseEvent] = queue.Queue()
        self.connected = threading.Event()
        self.status: int | None = None
        self._stop = threading.Event()
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(10, read=60))
        self._thread = threading.Thread(target=self._run, args=(path, headers or {}, params or {}), daemon=True)
        self._thread.start()
        if not self.connected.wait(10):
            raise RuntimeError("SSE stream did not connect")

    def _run(self, path, headers, params) -> None:
        try:
            with self._client.stream("GET", path, headers=headers, params=params) as r:
                self.status = r.status_code
                self.connected.set()
                if r.status_code != 200:
                    return
                fields: dict[str, str] = {}
                for line in r.iter_lines():
                    if self._stop.is_set():
                        return
                    if line == "":
                        if "data" in fields:
                            self.events.put(
                                SseEvent(
                                    int(fields["id"]) if "id" in fields else None,
                                    fields.get("event", "message"),
                                    json.loads(fields["data"]),
                                )
                            )
                        fields = {}
                    elif not line.startswith(":") and ":" in line:
                        key, _, value = line.partition(":")
                        fields[key] = value.removeprefix(" ")
        except (httpx.HTTPError, RuntimeError):
            self.connected.set()

    def wait_for(self, predicate, timeout: float = 10.0) -> SseEvent:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching event arrived")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if predicate(event):
                return event

    def close(self) -> None:
        self._stop.set()
        self._client.close()
