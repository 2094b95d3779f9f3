"""Python values <-> DynamoDB attribute values, through boto3's own serializer.

The one step added to boto3's: numbers come back as ``int`` (we store no fractions), not
``Decimal``, so callers compare and format them like any other int.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

Item = dict[str, Any]
AttributeValue = dict[str, Any]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_attr(value: Any) -> AttributeValue:
    """One value as an attribute value ({"S": ...}, {"N": ...}, {"M": ...} ...)."""
    attr: AttributeValue = dict(_serializer.serialize(value))
    return attr


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise TypeError(f"phone-auth stores whole numbers only, found {value}")
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_plain(inner) for inner in value]
    if isinstance(value, set):
        return {_plain(inner) for inner in value}
    return value


def from_attr(attr: Any) -> Any:
    return _plain(_deserializer.deserialize(attr))


def to_item(values: Item) -> dict[str, AttributeValue]:
    """A whole item; ``None`` values are left out (an absent attribute, not NULL)."""
    return {key: to_attr(value) for key, value in values.items() if value is not None}


def from_item(item: Any) -> Item | None:
    """A stored item (as boto3 returns it) as plain values; None for no item."""
    return None if not item else {key: from_attr(value) for key, value in item.items()}


def to_values(values: Item) -> dict[str, AttributeValue]:
    """ExpressionAttributeValues: every name keeps its value, ``None`` included."""
    return {name: to_attr(value) for name, value in values.items()}
