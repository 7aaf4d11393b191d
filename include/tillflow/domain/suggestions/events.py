"""Wire formats: order events and CDC change events in, suggestion messages out (pure).

Order events arrive on ``oltp.public.order_events``: a Debezium envelope (JSON without schemas)
of an ``order_events`` outbox row, whose ``after.payload`` is the order event contract v1 -- as a
JSON *string*, because Debezium renders ``jsonb`` as text. Reference-table changes arrive as
Debezium envelopes too (numerics as strings, ``decimal.handling.mode=string``).

The builders (``order_payload``, ``outbox_envelope``, ``cdc_envelope``) produce exactly these
formats; tests and the bench use them to stand in for CDC.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tillflow.domain.suggestions.rule import Order, OrderLine, Suggestion

ORDER_CREATED = "order_created"
SUGGESTION_ADDED = "suggestion_added"
SUGGESTION_ACCEPTED = "suggestion_accepted"
SCHEMA_VERSION = 1


class BadEvent(ValueError):
    """A message that is not a well-formed event of the expected contract."""


@dataclass(frozen=True, slots=True)
class Change:
    """One Debezium change: ``op`` c (insert), u (update), d (delete), r (snapshot read)."""

    op: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


def _loads(value: bytes | str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadEvent(f"not JSON: {exc}") from exc


def _envelope(doc: Any) -> Mapping[str, Any]:
    """The envelope itself, also when a converter wrapped it as ``{"schema", "payload"}``."""
    if not isinstance(doc, Mapping):
        raise BadEvent("an envelope must be a JSON object")
    if "schema" in doc and isinstance(doc.get("payload"), Mapping):
        inner: Mapping[str, Any] = doc["payload"]
        return inner
    return doc


def parse_change(value: bytes | str | None) -> Change | None:
    """A CDC change from a message value; None for a tombstone (null value)."""
    if value is None:
        return None
    env = _envelope(_loads(value))
    op = env.get("op")
    if op not in ("c", "u", "d", "r"):
        raise BadEvent(f"unknown op {op!r}")
    before, after = env.get("before"), env.get("after")
    if before is not None and not isinstance(before, Mapping):
        raise BadEvent("before must be an object")
    if after is not None and not isinstance(after, Mapping):
        raise BadEvent("after must be an object")
    return Change(op=str(op), before=before, after=after)


def decimal_of(value: Any) -> Decimal:
    """A Debezium numeric (a string with decimal.handling.mode=string; tolerate numbers)."""
    if isinstance(value, bool) or value is None:
        raise BadEvent(f"not a number: {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise BadEvent(f"not a number: {value!r}") from exc


def _line(raw: Mapping[str, Any]) -> OrderLine:
    return OrderLine(
        line_no=int(raw["line_no"]),
        product_id=int(raw["product_id"]),
        quantity=int(raw["quantity"]),
        unit_price=decimal_of(raw["unit_price"]),
        discount_type=str(raw.get("discount_type", "none")),
        discount_value=decimal_of(raw.get("discount_value", "0")),
        is_suggestion=bool(raw.get("is_suggestion", False)),
    )


def order_from_payload(payload: Mapping[str, Any]) -> Order:
    try:
        return Order(
            order_id=int(payload["order_id"]),
            customer_id=int(payload["customer_id"]),
            payment_method_id=int(payload["payment_method_id"]),
            store_id=int(payload["store_id"]),
            ordered_at=str(payload.get("ordered_at", "")),
            lines=tuple(_line(raw) for raw in payload.get("lines") or ()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadEvent(f"bad order payload: {exc!r}") from exc


def parse_order_event(value: bytes | str | None) -> tuple[str, Order] | None:
    """``(event_type, order)`` from an ``order_events`` message; None when it carries no event
    (a tombstone, the delete of an outbox row, or a snapshot read). Raises BadEvent on a
    malformed message.

    A snapshot read (``op=r``) is CDC publishing the outbox again, after its offsets were set
    aside (a broker that lost its topics) or its slot was lost: every order in it was placed
    before and published then, as an insert. Deciding it again could suggest a line today for
    an old order that qualifies only now, so it carries no event: an order is decided once,
    from the insert of its outbox row."""
    if value is None:
        return None
    doc = _envelope(_loads(value))
    if doc.get("op") == "r":
        return None
    if "event_type" in doc and "order_id" in doc:  # a bare payload (no envelope)
        payload: Any = doc
    else:
        after = doc.get("after")
        if after is None:
            return None
        if not isinstance(after, Mapping):
            raise BadEvent("after must be an object")
        payload = after.get("payload")
        if isinstance(payload, str):
            payload = _loads(payload)
    if not isinstance(payload, Mapping):
        raise BadEvent("the payload must be an object")
    event_type = str(payload.get("event_type", ""))
    return event_type, order_from_payload(payload)


# --- builders (the contract's formats) --------------------------------------------------------
def order_payload(order: Order, event_type: str = ORDER_CREATED) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "event_type": event_type,
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "payment_method_id": order.payment_method_id,
        "store_id": order.store_id,
        "ordered_at": order.ordered_at,
        "lines": [
            {
                "line_no": line.line_no,
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price": format(line.unit_price, "f"),
                "discount_type": line.discount_type,
                "discount_value": format(line.discount_value, "f"),
                "is_suggestion": line.is_suggestion,
            }
            for line in order.lines
        ],
    }


def cdc_envelope(
    table: str,
    op: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    ts_ms: int | None = None,
) -> dict[str, Any]:
    """A Debezium envelope (JSON converter without schemas) for a row of ``public.<table>``."""
    ts = int(time.time() * 1000) if ts_ms is None else ts_ms
    return {
        "before": dict(before) if before is not None else None,
        "after": dict(after) if after is not None else None,
        "source": {"connector": "postgresql", "db": "oltp", "schema": "public", "table": table},
        "op": op,
        "ts_ms": ts,
    }


def outbox_envelope(
    order: Order, event_id: int, event_type: str = ORDER_CREATED, created_at_us: int = 0
) -> dict[str, Any]:
    """The envelope CDC publishes for an ``order_events`` outbox insert (payload as a string)."""
    after = {
        "event_id": event_id,
        "order_id": order.order_id,
        "event_type": event_type,
        "payload": json.dumps(order_payload(order, event_type)),
        "created_at": created_at_us,
    }
    return cdc_envelope("order_events", "c", None, after)


def suggestion_message(
    suggestion: Suggestion, line_no: int, suggested_at: str, source: str
) -> dict[str, Any]:
    """The value published to ``order_suggestion_accepted`` (key: the order id)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "event_type": SUGGESTION_ACCEPTED,
        "order_id": suggestion.order_id,
        "customer_id": suggestion.customer_id,
        "payment_method_id": suggestion.payment_method_id,
        "store_id": suggestion.store_id,
        "ordered_at": suggestion.ordered_at,
        "suggested_at": suggested_at,
        "source": source,
        "category_id": suggestion.category_id,
        "discount_factor": format(suggestion.factor, "f"),
        "subtotal": format(suggestion.subtotal, "f"),
        "line": suggestion.line(line_no),
    }


def suggestion_to_dict(suggestion: Suggestion) -> dict[str, Any]:
    """A JSON-serialisable form (e.g. an Airflow trigger event); ``suggestion_from_dict``
    inverts it."""
    return {
        "order_id": suggestion.order_id,
        "customer_id": suggestion.customer_id,
        "payment_method_id": suggestion.payment_method_id,
        "store_id": suggestion.store_id,
        "ordered_at": suggestion.ordered_at,
        "product_id": suggestion.product_id,
        "category_id": suggestion.category_id,
        "unit_price": format(suggestion.unit_price, "f"),
        "factor": format(suggestion.factor, "f"),
        "seed": suggestion.seed,
    }


def suggestion_from_dict(raw: Mapping[str, Any]) -> Suggestion:
    return Suggestion(
        order_id=int(raw["order_id"]),
        customer_id=int(raw["customer_id"]),
        payment_method_id=int(raw["payment_method_id"]),
        store_id=int(raw["store_id"]),
        ordered_at=str(raw["ordered_at"]),
        product_id=int(raw["product_id"]),
        category_id=int(raw["category_id"]),
        unit_price=decimal_of(raw["unit_price"]),
        factor=decimal_of(raw["factor"]),
        seed=int(raw["seed"]),
    )
