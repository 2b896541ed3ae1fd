"""``farmwatch opendata push``: entities to an NGSI-LD context broker (Orion-LD, Scorpio,
Stellio...) over HTTP, in batches, with retries.

Per the NGSI-LD API (ETSI GS CIM 009, "Batch Entity Upsert", §5.6.8 / §6.15):

* ``POST {broker}/ngsi-ld/v1/entityOperations/upsert`` with a JSON array of entities;
* ``Content-Type: application/ld+json``, so each entity carries its own ``@context`` (with
  ``application/json`` the context would go in a ``Link`` header instead; one request can then
  carry only one context, and ours differ per entity type);
* ``NGSILD-Tenant: <tenant>`` when the broker is multi-tenant (``--tenant``);
* the answer: 201 (created, body the ids), 204 (all updated), 207 (some failed: body
  ``{"success": [...], "errors": [{"entityId": ..., "error": {...}}]}``).

Upsert replaces an entity with the same id, so pushing the same data twice leaves the broker
as it was: a push can simply be repeated after a failure. Connection errors, 429 and 5xx are
retried with exponential backoff (``Retry-After`` honoured); other 4xx and the per-entity
errors of a 207 are not, as repeating cannot fix them, and are reported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from farmwatch.opendata.ngsi import Entity

__all__ = ["PushError", "PushResult", "batches", "push_entities"]

log = logging.getLogger(__name__)

UPSERT_PATH = "/ngsi-ld/v1/entityOperations/upsert"
LD_JSON = "application/ld+json"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class PushError(RuntimeError):
    """The broker refused a batch (4xx) or kept failing after every retry."""


@dataclass
class PushResult:
    """What a push did: entities sent, created (201 or 207 success) and updated (204), the
    per-entity errors of 207 answers, and how many HTTP requests it took."""

    sent: int = 0
    created: int = 0
    updated: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)


def batches(entities: Iterable[Entity], size: int) -> Iterator[list[Entity]]:
    """Consecutive batches of at most ``size`` entities (the last one shorter).

    >>> [len(b) for b in batches(({"id": str(i)} for i in range(7)), 3)]
    [3, 3, 1]
    """
    if size < 1:
        raise ValueError("batch size must be at least 1")
    batch: list[Entity] = []
    for entity in entities:
        batch.append(entity)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def push_entities(
    client: httpx.Client,
    broker_url: str,
    entities: Iterable[Entity],
    *,
    tenant: str | None = None,
    batch_size: int = 100,
    attempts: int = 5,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> PushResult:
    """Upsert ``entities`` into the broker at ``broker_url`` (its base URL).

    Raises :class:`PushError` when a batch is refused outright or still fails after
    ``attempts`` tries; batches sent before stay in the broker (a re-run upserts them again).
    """
    url = broker_url.rstrip("/") + UPSERT_PATH
    headers = {"Content-Type": LD_JSON, "Accept": "application/json"}
    if tenant:
        headers["NGSILD-Tenant"] = tenant
    result = PushResult()
    for number, batch in enumerate(batches(entities, batch_size), 1):
        response = _send(client, url, headers, batch, attempts, backoff_s, sleep, result)
        result.sent += len(batch)
        if response.status_code == 201:
            result.created += len(batch)
        elif response.status_code == 204:
            result.updated += len(batch)
        elif response.status_code == 207:
            body = _json(response)
            result.created += len(body.get("success", []))
            for error in body.get("errors", []):
                detail = error.get("error", {})
                reason = detail.get("title") or detail.get("detail") or detail
                result.errors.append(f"{error.get('entityId')}: {reason}")
        else:
            raise PushError(
                f"batch {number}: the broker answered {response.status_code}: {response.text[:300]}"
            )
    return result


def _send(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    batch: list[Entity],
    attempts: int,
    backoff_s: float,
    sleep: Callable[[float], None],
    result: PushResult,
) -> httpx.Response:
    delay = backoff_s
    for attempt in range(1, attempts + 1):
        result.requests += 1
        try:
            response = client.post(url, json=batch, headers=headers)
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}"
            wait = delay
        else:
            if response.status_code not in _RETRY_STATUS:
                return response
            problem = f"HTTP {response.status_code}"
            asked = _retry_after(response)
            wait = delay if asked is None else asked
        if attempt == attempts:
            raise PushError(f"{url}: {problem}, after {attempts} tries")
        log.warning("push to %s: %s; retrying in %.1f s", url, problem, wait)
        sleep(wait)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
