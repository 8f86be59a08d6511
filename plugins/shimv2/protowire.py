"""Protocol Buffers wire format (proto3), just enough for the shim v2 task API.

A message is described by a `Schema`: field name → `Field(number, kind)`. Encoding skips
default values (proto3); decoding fills every field with its default first and ignores
unknown field numbers, so a newer shim's extra fields do no harm. Kinds: string, bytes,
bool, uint32, uint64, int32, int64, enum, message (with `schema`), map (string → string).
The rules are the public encoding guide's (protobuf.dev/programming-guides/encoding).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DecodeError", "Field", "Schema", "decode_varint", "encode_varint"]

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
_MASK64 = (1 << 64) - 1
_VARINT_KINDS = frozenset({"bool", "uint32", "uint64", "int32", "int64", "enum"})


class DecodeError(ValueError):
    """The bytes are not a valid encoding of the message."""


def encode_varint(value: int) -> bytes:
    value &= _MASK64  # negative int32/int64 are ten bytes of two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise DecodeError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result >> 64:
                raise DecodeError("varint wider than 64 bits")
            return result, pos
        shift += 7


def _iter_fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    pos = 0
    while pos < len(data):
        key, pos = decode_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = decode_varint(data, pos)
        elif wire == LENGTH:
            size, pos = decode_varint(data, pos)
            if pos + size > len(data):
                raise DecodeError(f"field {number} runs past the end")
            value, pos = data[pos : pos + size], pos + size
        elif wire == FIXED64:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == FIXED32:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise DecodeError(f"field {number} has unsupported wire type {wire}")
        if pos > len(data):
            raise DecodeError(f"field {number} runs past the end")
        yield number, wire, value


@dataclass(frozen=True, slots=True)
class Field:
    number: int
    kind: str
    schema: Schema | None = None
    repeated: bool = False


_DEFAULTS = {"string": "", "bytes": b"", "bool": False, "map": None}


class Schema:
    """One message type: encode a dict of field values, decode bytes to a dict."""

    def __init__(self, name: str, /, **fields: Field) -> None:
        self.name = name
        self.fields = fields
        self._by_number = {f.number: (n, f) for n, f in fields.items()}

    def __repr__(self) -> str:
        return f"Schema({self.name})"

    def encode(self, values: Mapping[str, Any] | None = None, /, **kw: Any) -> bytes:
        values = {**(values or {}), **kw}
        unknown = set(values) - set(self.fields)
        if unknown:
            raise ValueError(f"{self.name} has no field {sorted(unknown)[0]!r}")
        out = bytearray()
        for name, field in self.fields.items():
            value = values.get(name)
            if value is None:
                continue
            if field.kind == "map":
                for key, item in value.items():
                    entry = _key(1, LENGTH) + _len(str(key).encode())
                    entry += _key(2, LENGTH) + _len(str(item).encode())
                    out += _key(field.number, LENGTH) + _len(entry)
                continue
            for item in value if field.repeated else (value,):
                out += self._encode_one(field, item)
        return bytes(out)

    def _encode_one(self, field: Field, value: Any) -> bytes:
        kind = field.kind
        if kind in _VARINT_KINDS:
            number = int(value)
            return (
                b""
                if number == 0 and not field.repeated
                else _key(field.number, VARINT) + encode_varint(number)
            )
        if kind == "string":
            raw = value.encode()
        elif kind == "bytes":
            raw = bytes(value)
        elif kind == "message":
            assert field.schema is not None
            raw = value if isinstance(value, bytes) else field.schema.encode(value)
            return _key(field.number, LENGTH) + _len(raw)  # a set message is sent even if empty
        else:
            raise ValueError(f"unknown field kind {kind!r}")
        return b"" if not raw and not field.repeated else _key(field.number, LENGTH) + _len(raw)

    def decode(self, data: bytes) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, field in self.fields.items():
            if field.repeated:
                out[name] = []
            elif field.kind == "map":
                out[name] = {}
            elif field.kind == "message":
                out[name] = None
            else:
                out[name] = _DEFAULTS.get(field.kind, 0)
        for number, wire, raw in _iter_fields(data):
            if number not in self._by_number:
                continue
            name, field = self._by_number[number]
            value = self._decode_one(field, wire, raw)
            if field.kind == "map":
                out[name][value[0]] = value[1]
            elif field.repeated:
                out[name].extend(value if isinstance(value, list) else [value])
            else:
                out[name] = value
        return out

    def _decode_one(self, field: Field, wire: int, raw: Any) -> Any:
        kind = field.kind
        if kind in _VARINT_KINDS:
            if wire == LENGTH and field.repeated:  # packed repeated scalars
                values, pos = [], 0
                while pos < len(raw):
                    number, pos = decode_varint(raw, pos)
                    values.append(self._scalar(kind, number))
                return values
            if wire != VARINT:
                raise DecodeError(f"{self.name}.{field.number}: expected a varint")
            return self._scalar(kind, raw)
        if wire != LENGTH:
            raise DecodeError(f"{self.name}.{field.number}: expected length-delimited data")
        if kind == "string":
            return raw.decode("utf-8", errors="replace")
        if kind == "bytes":
            return bytes(raw)
        if kind == "message":
            assert field.schema is not None
            return field.schema.decode(raw)
        if kind == "map":
            entry = _MAP_ENTRY.decode(raw)
            return entry["key"], entry["value"]
        raise DecodeError(f"unknown field kind {kind!r}")

    @staticmethod
    def _scalar(kind: str, number: int) -> Any:
        if kind == "bool":
            return bool(number)
        if kind == "uint32":
            return number & 0xFFFFFFFF
        if kind in ("int32", "int64", "enum") and number >= 1 << 63:
            return number - (1 << 64)
        if kind == "int32" and number >= 1 << 31:
            return number - (1 << 32)
        return number


def _key(number: int, wire: int) -> bytes:
    return encode_varint(number << 3 | wire)


def _len(raw: bytes) -> bytes:
    return encode_varint(len(raw)) + raw


_MAP_ENTRY = Schema("MapEntry", key=Field(1, "string"), value=Field(2, "string"))
