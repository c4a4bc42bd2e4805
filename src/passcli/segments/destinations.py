"""Where `segment sync` sends its events: a JSON Lines file, or an HTTP endpoint that takes
Segment's batch body.

A destination takes events already encoded as JSON and either delivers every one of them or
raises a DeliveryError; the caller advances the snapshot only after a full delivery. Sending
an event twice is harmless (receivers dedupe on its messageId), so every failure that may
pass with time is retried, timeouts after the request left included.

    PermanentDeliveryError   an HTTP 4xx other than 429, or a file that cannot be written
    TransientDeliveryError   connection errors, timeouts, 429 and 5xx, still failing after
                             the last attempt
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Protocol

import httpx
import orjson

from passcli.errors import PermanentDeliveryError, TransientDeliveryError, UsageError

# Segment's HTTP Tracking API takes at most 500 KB per batch request and 32 KB per event;
# batches stop at whichever of these comes first, with room to spare under 500 KB.
BATCH_EVENTS = 250
BATCH_BYTES = 450_000
ATTEMPTS = 5
BACKOFF = 1.0  # seconds before the second attempt; doubled for each further one
MAX_WAIT = 60.0  # the longest pause between attempts, Retry-After included
FILE_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class Delivered:
    events: int
    requests: int  # HTTP requests that succeeded (batches); 0 for a file


class Destination(Protocol):
    """Delivers every event, or raises a DeliveryError."""

    @property
    def name(self) -> str:
        """Where the events go, safe to print (no credentials)."""
        ...

    def deliver(self, events: Iterable[bytes]) -> Delivered: ...


def destination_for(
    to: str, write_key: str | None = None, transport: httpx.BaseTransport | None = None
) -> Destination:
    """`--to`: an http(s) URL, or a path ending in .jsonl or .ndjson whose folder exists."""
    if "://" in to:
        scheme = to.split("://", 1)[0].lower()
        if scheme not in ("http", "https"):
            raise UsageError(f"--to must be a .jsonl file or an http(s) URL, not a {scheme} URL")
        endpoint = BatchEndpoint(to, write_key, transport=transport)
        if not endpoint.url.host:
            raise UsageError(f"--to URL {endpoint.name!r} has no host")
        return endpoint
    path = Path(to)
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise UsageError(f"--to must be a .jsonl file or an http(s) URL, not {to!r}")
    folder = path.resolve().parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {to}: folder {folder} does not exist")
    return JsonLinesFile(path)


class JsonLinesFile:
    """Appends one event a line, all or nothing.

    The file is a log of changes that grows with each sync, so a reader that has not caught
    up loses nothing. On an error the file is cut back to its length before this sync; an
    incomplete last line (a sync killed while writing) is removed before appending.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return str(self.path)

    def deliver(self, events: Iterable[bytes]) -> Delivered:
        written = 0
        try:
            with self.path.open("a+b") as handle:
                start = _whole_lines_end(handle)
                try:
                    handle.truncate(start)
                    for event in events:
                        handle.write(event + b"\n")
                        written += 1
                    handle.flush()
                    os.fsync(handle.fileno())
                except BaseException:
                    handle.truncate(start)
                    raise
        except OSError as exc:
            raise PermanentDeliveryError(f"cannot write {self.path}: {exc.strerror}") from exc
        return Delivered(written, 0)


def _whole_lines_end(handle: IO[bytes]) -> int:
    """Where the file's whole lines end: after its last newline, or after a last line that
    lacks only its newline (which is then added)."""
    end = handle.seek(0, os.SEEK_END)
    whole = _after_last_newline(handle, end)
    if whole == end:
        return end
    handle.seek(whole)
    tail = handle.read(end - whole)
    try:
        orjson.loads(tail)
    except orjson.JSONDecodeError:
        return whole  # an incomplete line: cut off
    handle.write(b"\n")
    return end + 1


def _after_last_newline(handle: IO[bytes], end: int) -> int:
    position = end
    while position > 0:
        start = max(0, position - 65_536)
        handle.seek(start)
        block = handle.read(position - start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0


class BatchEndpoint:
    """POSTs `{"batch": [...]}` bodies, as Segment's `/v1/batch` takes them.

    A write key is sent as HTTP basic auth (the key as user name, no password), as Segment
    asks. 2xx is delivered; 429, 5xx and transport errors are retried up to `attempts` times,
    waiting `backoff`, then twice as long each time (Retry-After when the server sends one),
    at most `max_wait`; any other status fails the sync at once.
    """

    def __init__(
        self,
        url: str,
        write_key: str | None = None,
        *,
        batch_events: int = BATCH_EVENTS,
        batch_bytes: int = BATCH_BYTES,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        max_wait: float = MAX_WAIT,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            self.url = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise UsageError(f"--to is not a valid URL: {exc}") from None
        self.write_key = write_key
        self.batch_events = batch_events
        self.batch_bytes = batch_bytes
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.timeout = timeout
        self.transport = transport
        self.sleep = sleep
        # Unix seconds now, for a Retry-After given as an HTTP date (injected like `sleep`).
        self.wall_clock = wall_clock

    @property
    def name(self) -> str:
        # Credentials in the URL's user info are never shown; nor is its query string.
        url = self.url
        port = f":{url.port}" if url.port is not None else ""
        return f"{url.scheme}://{url.host}{port}{url.path}"

    def deliver(self, events: Iterable[bytes]) -> Delivered:
        auth = httpx.BasicAuth(self.write_key, "") if self.write_key else None
        sent = requests = 0
        with httpx.Client(auth=auth, timeout=self.timeout, transport=self.transport) as client:
            for batch in batches(events, self.batch_events, self.batch_bytes):
                body = b'{"batch":[' + b",".join(batch) + b"]}"
                try:
                    self._post(client, body)
                except (PermanentDeliveryError, TransientDeliveryError) as exc:
                    if not requests:
                        raise
                    plural = "es" if requests != 1 else ""
                    done = f"{requests} earlier batch{plural} ({sent} events) had been delivered"
                    raise type(exc)(f"{exc}; {done}") from exc
                sent += len(batch)
                requests += 1
        return Delivered(sent, requests)

    def _post(self, client: httpx.Client, body: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        for attempt in range(1, self.attempts + 1):
            retry_after: float | None = None
            try:
                response = client.post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.is_success:
                    return
                reason = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
                detail = _detail(response)
                if detail:
                    reason += f": {detail}"
                if response.status_code != 429 and response.status_code < 500:
                    raise PermanentDeliveryError(f"{self.name} answered {reason}")
                retry_after = _retry_after(response, self.wall_clock())
            if attempt == self.attempts:
                raise TransientDeliveryError(
                    f"{self.name} still failing after {self.attempts} attempts: {reason}"
                )
            wait = self.backoff * 2 ** (attempt - 1) if retry_after is None else retry_after
            self.sleep(min(wait, self.max_wait))


def batches(events: Iterable[bytes], max_events: int, max_bytes: int) -> Iterator[list[bytes]]:
    """Encoded events grouped so that each `{"batch":[...]}` body holds at most `max_events`
    and stays within `max_bytes` (a single larger event goes alone)."""
    batch: list[bytes] = []
    size = len(b'{"batch":[]}')
    for event in events:
        grown = size + len(event) + (1 if batch else 0)
        if batch and (len(batch) == max_events or grown > max_bytes):
            yield batch
            batch, grown = [], len(b'{"batch":[]}') + len(event)
        batch.append(event)
        size = grown
    if batch:
        yield batch


def _detail(response: httpx.Response) -> str:
    """The start of the response body, on one line."""
    text = " ".join(response.text.split())
    return text[:200] + ("..." if len(text) > 200 else "")


def _retry_after(response: httpx.Response, now: float) -> float | None:
    """Retry-After in seconds (a number, or an HTTP date compared with `now`, unix
    seconds), or None."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    # An HTTP date is relative to the server's clock; the wall clock is the only reference.
    return max(0.0, when.timestamp() - now)
