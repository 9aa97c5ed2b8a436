"""A data converter that never coerces a value, and fails undecodable input with a typed error."""

from __future__ import annotations

import dataclasses
from typing import Any

import temporalio.api.common.v1
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
)
from temporalio.exceptions import ApplicationError

from write_batcher import errors


class InvalidInputError(ApplicationError):
    """A payload that does not decode into its declared type; non-retryable, INVALID_INPUT.

    An ApplicationError, so the SDK fails the workflow (or the activity) that receives it
    instead of failing its workflow task forever; signals that do not decode are dropped
    (and logged) by the SDK as before.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, type=errors.INVALID_INPUT, non_retryable=True)


class _StrictNumbers(JSONTypeConverter):
    """The SDK's default turns 12.5 into 12 for an ``int`` and True into 1: refuse both."""

    def to_typed_value(self, hint: type, value: Any) -> Any | None:
        if hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"expected an integer, got {type(value).__name__} {value!r:.40}")
            return value
        if hint is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"expected a number, got {type(value).__name__} {value!r:.40}")
            if isinstance(value, int) and abs(value) > 2**53:
                raise TypeError(f"{value} is not exact as a float")
            return float(value)
        return JSONTypeConverter.Unhandled


class StrictJSONPayloadConverter(JSONPlainPayloadConverter):
    """``json/plain`` as the SDK writes it; decoding checks types strictly and is typed."""

    def __init__(self) -> None:
        super().__init__(custom_type_converters=[_StrictNumbers()])

    def from_payload(
        self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None
    ) -> Any:
        try:
            return super().from_payload(payload, type_hint)
        except Exception as err:
            what = getattr(type_hint, "__name__", None) or str(type_hint)
            cause = err.__cause__ or err
            raise InvalidInputError(f"input does not decode as {what}: {cause}") from err


class StrictPayloadConverter(CompositePayloadConverter):
    """The SDK's default payload converters with the strict JSON one in place of its own."""

    def __init__(self) -> None:
        super().__init__(
            *(
                StrictJSONPayloadConverter() if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


def strict_data_converter(base: DataConverter | None = None) -> DataConverter:
    """``base`` (default: the SDK's) with the strict payload converter.

    A base with a payload converter of its own (pydantic, protobuf-only...) is returned as
    it is: its owner decides how strict it decodes.
    """
    base = base or DataConverter.default
    if base.payload_converter_class is not DefaultPayloadConverter:
        return base
    return dataclasses.replace(base, payload_converter_class=StrictPayloadConverter)


def is_strict(converter: DataConverter) -> bool:
    return converter.payload_converter_class is StrictPayloadConverter
