"""protowire: the hand-written proto3 codec, against the public encoding guide.

Round trips (hypothesis) over every field kind the codec has, defaults left out of the
encoding, unknown fields skipped, byte vectors from protobuf.dev/programming-guides/encoding,
packed repeated scalars, and malformed input raising DecodeError (never anything else).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ocimux.plugins.shimv2.protowire import (
    DecodeError,
    Field,
    Schema,
    decode_varint,
    encode_varint,
)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

F = Field
INNER = Schema("Inner", label=F(1, "string"), count=F(2, "int64"), on=F(3, "bool"))
EVERYTHING = Schema(
    "Everything",
    s=F(1, "string"),
    raw=F(2, "bytes"),
    flag=F(3, "bool"),
    u32=F(4, "uint32"),
    u64=F(5, "uint64"),
    i32=F(6, "int32"),
    i64=F(7, "int64"),
    kind=F(8, "enum"),
    inner=F(9, "message", INNER),
    labels=F(10, "map"),
    names=F(11, "string", repeated=True),
    numbers=F(12, "int64", repeated=True),
    inners=F(13, "message", INNER, repeated=True),
    blobs=F(14, "bytes", repeated=True),
    flags=F(15, "bool", repeated=True),
    far=F(2047, "uint32"),  # a two-byte key
)

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(st.characters(codec="utf-8"), max_size=20)

inner_values = st.fixed_dictionaries(
    {}, optional={"label": TEXT, "count": INT64, "on": st.booleans()}
)
everything_values = st.fixed_dictionaries(
    {},
    optional={
        "s": TEXT,
        "raw": st.binary(max_size=40),
        "flag": st.booleans(),
        "u32": st.integers(0, 2**32 - 1),
        "u64": st.integers(0, 2**64 - 1),
        "i32": INT32,
        "i64": INT64,
        "kind": INT32,
        "inner": inner_values,
        "labels": st.dictionaries(TEXT, TEXT, max_size=4),
        "names": st.lists(TEXT, max_size=4),
        "numbers": st.lists(INT64, max_size=4),
        "inners": st.lists(inner_values, max_size=3),
        "blobs": st.lists(st.binary(max_size=8), max_size=3),
        "flags": st.lists(st.booleans(), max_size=4),
        "far": st.integers(0, 2**32 - 1),
    },
)


def expected(schema: Schema, values: dict[str, Any]) -> dict[str, Any]:
    """What decode must return for `values`: every field, defaults where unset (written here)."""
    defaults = {"string": "", "bytes": b"", "bool": False}
    out: dict[str, Any] = {}
    for name, field in schema.fields.items():
        if field.repeated:
            items = values.get(name, [])
            if field.kind == "message":
                items = [expected(field.schema, item) for item in items]
            out[name] = list(items)
        elif field.kind == "map":
            out[name] = dict(values.get(name, {}))
        elif field.kind == "message":
            out[name] = expected(field.schema, values[name]) if name in values else None
        else:
            out[name] = values.get(name, defaults.get(field.kind, 0))
    return out


# --- round trips --------------------------------------------------------------------------------


@SETTINGS
@given(everything_values)
@example({"i32": -1, "i64": -(2**63), "kind": -5, "u64": 2**64 - 1, "u32": 2**32 - 1})
@example({"numbers": [0, 0, -1], "flags": [False, True], "names": ["", "a"], "blobs": [b""]})
@example({"inner": {}, "inners": [{}, {"count": -7}]})
@example({"labels": {"": "", "k": "v", "ü": "∂"}})
def test_every_kind_round_trips(values: dict[str, Any]) -> None:
    assert EVERYTHING.decode(EVERYTHING.encode(values)) == expected(EVERYTHING, values)


@SETTINGS
@given(everything_values)
def test_keyword_and_mapping_arguments_encode_alike(values: dict[str, Any]) -> None:
    assert EVERYTHING.encode(**values) == EVERYTHING.encode(values)


@SETTINGS
@given(st.integers(0, 2**64 - 1))
def test_varint_round_trip_and_length(value: int) -> None:
    raw = encode_varint(value)
    assert decode_varint(raw, 0) == (value, len(raw))
    assert len(raw) == max(1, -(-value.bit_length() // 7))
    assert all(b & 0x80 for b in raw[:-1]) and not raw[-1] & 0x80


@SETTINGS
@given(st.integers(-(2**63), -1))
def test_negative_numbers_are_ten_bytes_of_twos_complement(value: int) -> None:
    raw = encode_varint(value)
    assert len(raw) == 10
    assert decode_varint(raw, 0)[0] == value + 2**64


@SETTINGS
@given(st.lists(INT32, max_size=8), st.lists(st.integers(0, 2**64 - 1), max_size=8))
def test_packed_repeated_varints_decode(ints: list[int], uints: list[int]) -> None:
    schema = Schema("P", ints=F(1, "int32", repeated=True), uints=F(2, "uint64", repeated=True))
    body1 = b"".join(encode_varint(v) for v in ints)
    body2 = b"".join(encode_varint(v) for v in uints)
    data = b"\x0a" + encode_varint(len(body1)) + body1 + b"\x12" + encode_varint(len(body2)) + body2
    assert schema.decode(data) == {"ints": ints, "uints": uints}


def test_packed_and_unpacked_chunks_of_one_field_concatenate() -> None:
    schema = Schema("P", f=F(1, "uint32", repeated=True))
    assert schema.decode(b"\x0a\x02\x01\x02" + b"\x08\x03" + b"\x0a\x01\x04") == {"f": [1, 2, 3, 4]}


# --- proto3 defaults ----------------------------------------------------------------------------


def test_default_values_encode_to_nothing() -> None:
    defaults = {
        "s": "", "raw": b"", "flag": False, "u32": 0, "u64": 0, "i32": 0, "i64": 0, "kind": 0,
        "labels": {}, "names": [], "numbers": [], "inners": [], "blobs": [], "flags": [], "far": 0,
    }  # fmt: skip
    assert EVERYTHING.encode(defaults) == b""
    assert EVERYTHING.encode({name: None for name in EVERYTHING.fields}) == b""
    assert EVERYTHING.encode() == b""


def test_decoding_nothing_gives_every_default() -> None:
    assert EVERYTHING.decode(b"") == expected(EVERYTHING, {})
    assert EVERYTHING.decode(b"")["inner"] is None


def test_a_set_but_empty_message_is_sent() -> None:
    assert EVERYTHING.encode(inner={}) == b"\x4a\x00"
    assert EVERYTHING.decode(b"\x4a\x00")["inner"] == {"label": "", "count": 0, "on": False}


def test_repeated_defaults_are_kept_in_lists() -> None:
    assert EVERYTHING.encode(numbers=[0], names=[""]) == b"\x5a\x00\x60\x00"


# --- the encoding guide's vectors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "values", "data"),
    [
        # message Test1 { int32 a = 1; } a = 150
        (Schema("Test1", a=F(1, "int32")), {"a": 150}, b"\x08\x96\x01"),
        # message Test2 { string b = 2; } b = "testing"
        (Schema("Test2", b=F(2, "string")), {"b": "testing"}, b"\x12\x07testing"),
        # message Test3 { Test1 c = 3; } c.a = 150
        (
            Schema("Test3", c=F(3, "message", Schema("Test1", a=F(1, "int32")))),
            {"c": {"a": 150}},
            b"\x1a\x03\x08\x96\x01",
        ),
        # message Test4 { string d = 4; repeated int32 e = 5; } unpacked, as the guide shows it
        (
            Schema("Test4", d=F(4, "string"), e=F(5, "int32", repeated=True)),
            {"d": "hello", "e": [1, 2, 3]},
            b"\x22\x05hello\x28\x01\x28\x02\x28\x03",
        ),
        # int32 -2: sign-extended to ten bytes
        (Schema("N", a=F(1, "int32")), {"a": -2}, b"\x08\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
        (Schema("N", a=F(1, "int64")), {"a": -1}, b"\x08" + b"\xff" * 9 + b"\x01"),
        (Schema("U", a=F(1, "uint64")), {"a": 2**64 - 1}, b"\x08" + b"\xff" * 9 + b"\x01"),
        (Schema("B", a=F(1, "bool")), {"a": True}, b"\x08\x01"),
        (Schema("E", a=F(1, "enum")), {"a": 4}, b"\x08\x04"),
        (Schema("Y", a=F(1, "bytes")), {"a": b"\x00\xff"}, b"\x0a\x02\x00\xff"),
        # map<string, string> m = 10: one MapEntry { key = 1; value = 2; } per item
        (Schema("M", m=F(10, "map")), {"m": {"a": "b"}}, b"\x52\x06\x0a\x01a\x12\x01b"),
        # a key past field 15 takes two bytes: (16 << 3 | 0) = 128
        (Schema("K", a=F(16, "uint32")), {"a": 1}, b"\x80\x01\x01"),
    ],
)
def test_encoding_guide_vectors(schema: Schema, values: dict[str, Any], data: bytes) -> None:
    assert schema.encode(values) == data
    assert schema.decode(data) == expected(schema, values)


def test_packed_vector_from_the_guide() -> None:
    # message Test5 { repeated int32 f = 6 [packed = true]; } f = [3, 270, 86942]
    schema = Schema("Test5", f=F(6, "int32", repeated=True))
    assert schema.decode(bytes.fromhex("3206038e029ea705")) == {"f": [3, 270, 86942]}


def test_varint_vectors() -> None:
    assert encode_varint(0) == b"\x00"
    assert encode_varint(1) == b"\x01"
    assert encode_varint(127) == b"\x7f"
    assert encode_varint(128) == b"\x80\x01"
    assert encode_varint(150) == b"\x96\x01"
    assert encode_varint(300) == b"\xac\x02"
    assert decode_varint(b"\xff\x96\x01", 1) == (150, 3)


def test_int32_from_a_five_byte_encoding_is_negative() -> None:
    # some encoders send a negative int32 as its 32-bit pattern; Go's int32(x) truncation
    assert Schema("N", a=F(1, "int32")).decode(b"\x08\xff\xff\xff\xff\x0f") == {"a": -1}
    assert Schema("U", a=F(1, "uint32")).decode(b"\x08" + b"\xff" * 9 + b"\x01") == {"a": 2**32 - 1}


def test_last_value_of_a_scalar_wins_and_map_keys_merge() -> None:
    schema = Schema("L", a=F(1, "uint32"), m=F(2, "map"))
    data = b"\x08\x01\x08\x02" + b"\x12\x06\x0a\x01k\x12\x01x" + b"\x12\x06\x0a\x01k\x12\x01y"
    data += b"\x12\x03\x0a\x01z"  # a map entry without a value: the default ""
    assert schema.decode(data) == {"a": 2, "m": {"k": "y", "z": ""}}


# --- unknown fields -------------------------------------------------------------------------------


@SETTINGS
@given(everything_values, st.integers(0, 3))
def test_unknown_fields_of_every_wire_type_are_skipped(values: dict[str, Any], where: int) -> None:
    extra = [
        b"\xa0\x06\x2a",  # field 100, varint
        b"\xa9\x06" + b"\x01" * 8,  # field 101, fixed64
        b"\xb2\x06\x03abc",  # field 102, length-delimited
        b"\xbd\x06" + b"\x02" * 4,  # field 103, fixed32
    ]
    data = EVERYTHING.encode(values)
    mixed = extra[where] + data + b"".join(extra)
    assert EVERYTHING.decode(mixed) == expected(EVERYTHING, values)


def test_a_newer_peers_nested_message_with_extra_fields_decodes() -> None:
    nested = INNER.encode(label="n") + b"\xf8\x01\x07"  # field 31 = 7, unknown to INNER
    assert EVERYTHING.decode(b"\x4a" + bytes([len(nested)]) + nested)["inner"] == {
        "label": "n",
        "count": 0,
        "on": False,
    }


# --- malformed input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"\x08",  # a key and no value
        b"\x08\x96",  # a varint whose continuation bit leads nowhere
        b"\x80",  # a truncated key
        b"\x12\x07test",  # length 7, four bytes follow
        b"\x12",  # length missing
        b"\x12\x80",  # length truncated
        b"\x09\x01\x02\x03",  # fixed64 with three bytes
        b"\x0d\x01",  # fixed32 with one byte
        b"\x08" + b"\xff" * 10 + b"\x01",  # an eleven-byte varint
        b"\x0b",  # wire type 3 (start group)
        b"\x0c",  # wire type 4 (end group)
        b"\x0e\x00",  # wire type 6
        b"\x0f\x00",  # wire type 7
        b"\xa3\x06",  # unknown field 100 with wire type 3: still unreadable
        b"\x0a\x02a",  # string field 1: length 2, one byte follows
    ],
)
def test_malformed_input_raises_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        EVERYTHING.decode(data)


@pytest.mark.parametrize(
    ("schema", "data"),
    [
        (Schema("S", s=F(1, "string")), b"\x08\x01"),  # a string sent as a varint
        (Schema("S", s=F(1, "uint32")), b"\x0a\x01\x01"),  # a scalar sent length-delimited
        (Schema("S", s=F(1, "uint32")), b"\x0d\x01\x00\x00\x00"),  # a varint field as fixed32
        (Schema("S", s=F(1, "message", INNER)), b"\x08\x01"),  # a message as a varint
        (Schema("S", s=F(1, "message", INNER)), b"\x0a\x02\x12\x05"),  # its inside truncated
        (Schema("S", m=F(1, "map")), b"\x08\x01"),  # a map entry as a varint
        (Schema("S", s=F(1, "int64", repeated=True)), b"\x0a\x01\x80"),  # packed, truncated
    ],
)
def test_a_known_field_with_the_wrong_shape_raises_decode_error(
    schema: Schema, data: bytes
) -> None:
    with pytest.raises(DecodeError):
        schema.decode(data)


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(DecodeError, ValueError)


@SETTINGS
@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_decode_error_only(data: bytes) -> None:
    try:
        out = EVERYTHING.decode(data)
    except DecodeError:
        return
    assert set(out) == set(EVERYTHING.fields)


@SETTINGS
@given(everything_values, st.data())
def test_every_cut_of_an_encoding_decodes_or_raises_decode_error(
    values: dict[str, Any], data: st.DataObject
) -> None:
    raw = EVERYTHING.encode(values)
    cut = data.draw(st.integers(0, len(raw)))
    try:
        EVERYTHING.decode(raw[:cut])
    except DecodeError:
        pass


def test_a_ten_byte_varint_that_overflows_64_bits_is_rejected() -> None:
    with pytest.raises(DecodeError):
        Schema("N", a=F(1, "int64")).decode(b"\x08" + b"\xff" * 9 + b"\x7f")


# --- encoding errors ------------------------------------------------------------------------------


def test_encoding_an_unknown_field_name_raises_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="'nope'") as info:
        INNER.encode(label="x", nope=1)
    assert "Inner" in str(info.value)
    assert not isinstance(info.value, DecodeError)
    with pytest.raises(ValueError, match="'nope'"):
        INNER.encode({"nope": None})


def test_an_unknown_field_kind_cannot_encode() -> None:
    with pytest.raises(ValueError, match="float"):
        Schema("X", f=F(1, "float")).encode(f=1.5)


def test_a_message_value_may_be_pre_encoded_bytes() -> None:
    assert EVERYTHING.encode(inner=INNER.encode(label="a")) == EVERYTHING.encode(
        inner={"label": "a"}
    )
