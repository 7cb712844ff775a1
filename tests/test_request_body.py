"""Body validation of the bulk endpoints: every malformed body is a 400 naming what is wrong."""

import asyncio
import gzip
import io
import json

import orjson
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from api_service.json_object import KEY_SCAN_MAX_COLONS, repeated_key
from api_service.lead_ids import InvalidLeadIds, validate_lead_ids
from shared.settings import Settings
from tests.api_helpers import SUBMIT_URL, api_client, with_settings
from tests.conftest import auth, make_token

ESTADOS = [
    "EN_ESPERA",
    "CONTACTADO",
    "APROBADO",
    "CONFIRMADO",
    "EN_TRANSITO",
    "EN_BODEGA",
    "CANCELADO",
]


async def post_raw(client: TestClient, body: bytes, language: str = "es") -> tuple[int, dict]:
    headers = auth(1, **{"Content-Type": "application/json", "Accept-Language": language})
    response = await client.post(SUBMIT_URL, data=io.BytesIO(body), headers=headers)
    return response.status, await response.json()


async def post_json(client: TestClient, body: object, language: str = "es") -> tuple[int, dict]:
    return await post_raw(client, orjson.dumps(body), language)


def reference_repeated_key(body: bytes) -> str | None:
    """The standard library's view: the first key repeated within an object, or None."""
    found: list[str] = []

    def collect(pairs: list[tuple[str, object]]) -> dict:
        names = [name for name, _ in pairs]
        found.extend(name for index, name in enumerate(names) if name in names[:index])
        return dict(pairs)

    json.loads(body, object_pairs_hook=collect)
    return found[0] if found else None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"not json",
        b"[1, 2]",
        b'"aprobado"',
        b"null",
        b'{"lead_ids": [1], "estado": "aprobado",}',
        b'{"lead_ids": [NaN], "estado": "aprobado"}',
        b'{"lead_ids": [1], "estado": "aprobado"} {}',
        b'\xef\xbb\xbf{"lead_ids": [1], "estado": "aprobado"}',
        b'{"lead_ids": [1], "estado": "apr\xff"}',
        b'{"lead_ids": [1], "estado": "\\ud800"}',
        b'{"lead_ids": [1e400], "estado": "aprobado"}',
    ],
    ids=[
        "empty",
        "blank",
        "text",
        "array",
        "string",
        "null",
        "trailing_comma",
        "nan",
        "two_values",
        "bom",
        "bad_utf8",
        "lone_surrogate",
        "infinite_number",
    ],
)
async def test_body_not_object(
    client: TestClient, redis: Redis, settings: Settings, body: bytes
) -> None:
    status, data = await post_raw(client, body)

    assert status == 400
    assert data["error"] == "invalid_json"
    assert data["message"] == "El cuerpo debe ser un objeto JSON válido"
    assert await redis.xlen(settings.stream_key) == 0


async def test_body_not_object_en(client: TestClient) -> None:
    status, data = await post_raw(client, b"{", language="en")

    assert status == 400
    assert data["message"] == "The body must be a valid JSON object"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"lead_ids": [1], "estado": "aprobado", "estado": "cancelado"}', "estado"),
        (b'{"lead_ids": [1], "estado": "aprobado", "\\u0065stado": "cancelado"}', "estado"),
        (b'{"lead_ids": [1], "lead_ids": [2], "estado": "aprobado"}', "lead_ids"),
        (b'{"lead_ids": [1], "estado": "aprobado", "meta": {"a": 1, "a": 2}}', "a"),
    ],
    ids=["plain", "escaped", "lead_ids", "nested"],
)
async def test_repeated_key(client: TestClient, body: bytes, key: str) -> None:
    status, data = await post_raw(client, body)

    assert status == 400
    assert data["error"] == "invalid_json"
    assert data["repeated_key"] == key
    assert data["message"] == f"El cuerpo debe ser un objeto JSON válido: clave repetida {key}"


async def test_repeated_key_large_body(client: TestClient) -> None:
    ids = ",".join(str(lead_id) for lead_id in range(1, 300_001))
    body = f'{{"estado": "aprobado", "lead_ids": [{ids}], "\\u0065stado": "cancelado"}}'.encode()
    status, data = await post_raw(client, body)

    assert len(body) > 1024 * 1024
    assert status == 400
    assert data["repeated_key"] == "estado"


async def test_same_key_other_objects(client: TestClient) -> None:
    body = b'{"lead_ids": [1], "estado": "aprobado", "a": {"estado": 1}, "b": [{"estado": 2}]}'
    status, data = await post_raw(client, body)

    assert status == 202
    assert data["total_leads"] == 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "x: y", "b": "\\": \\"", "c": " : ", "d":1}',
        b'{"a" :1, "b"\n:\t2, "c": {"a": 3}, "d": [{"a": 4}, {"a": 5}]}',
        b'{"k\\"": 1, "k": 2}',
        b'{"k\\\\": 1, "k\\\\": 2}',
        b'{"\\"": 1, "x": "\\"", "y": ":"}',
        b'{"a": "\\\\", "a": 1}',
        b'{"' + b"k" * 300 + b'": 1, "' + b"k" * 300 + b'": 2}',
        b'{"a": 1, "b": "' + b":" * (KEY_SCAN_MAX_COLONS + 1) + b'", "a": 2}',
        b'{"a": 1, "b": "' + b":" * (KEY_SCAN_MAX_COLONS + 1) + b'"}',
        b'{"a"' + b" " * 300 + b': 1, "a": 2}',
        b'{"\xc3\xa1": 1, "\\u00e1": 2}',
    ],
    ids=[
        "colons_in_strings",
        "whitespace_nesting",
        "escaped_quote_key",
        "backslash_keys",
        "quote_key",
        "backslash_value",
        "long_keys",
        "many_colons_repeat",
        "many_colons",
        "long_whitespace",
        "accent_escape",
    ],
)
def test_repeated_key_scan(body: bytes) -> None:
    assert repeated_key(body) == reference_repeated_key(body)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"lead_ids": [1]},
        {"estado": "aprobado"},
        {"lead_ids": None, "estado": "aprobado"},
        {"lead_ids": [1], "estado": None},
        {"leads": [1], "status": "aprobado"},
    ],
    ids=["empty", "no_estado", "no_lead_ids", "null_lead_ids", "null_estado", "other_names"],
)
async def test_missing_fields(client: TestClient, body: dict) -> None:
    status, data = await post_json(client, body)

    assert status == 400
    assert data["error"] == "missing_fields"
    assert data["message"] == "Campos requeridos: lead_ids (array), estado (string)"


@pytest.mark.parametrize(
    "lead_ids", ["1,2,3", 5, {"1": 1}, True], ids=["string", "number", "object", "bool"]
)
async def test_lead_ids_not_array(client: TestClient, lead_ids: object) -> None:
    status, data = await post_json(client, {"lead_ids": lead_ids, "estado": "aprobado"})

    assert status == 400
    assert data["error"] == "invalid_lead_ids"
    assert data["message"] == "lead_ids debe ser un array"


async def test_lead_ids_empty(client: TestClient) -> None:
    status, data = await post_json(client, {"lead_ids": [], "estado": "aprobado"}, language="en")

    assert status == 400
    assert data["error"] == "invalid_lead_ids"
    assert data["message"] == "lead_ids cannot be empty"


@pytest.mark.parametrize(
    ("raw", "echoed", "shown"),
    [
        (b"true", True, "true"),
        (b"1.5", 1.5, "1.5"),
        (b"1.0", 1.0, "1.0"),
        (b"0", 0, "0"),
        (b"-3", -3, "-3"),
        (b"null", None, "null"),
        (b'"abc"', '"abc"', '"abc"'),
        (b'"12a"', '"12a"', '"12a"'),
        (b'" 12"', '" 12"', '" 12"'),
        (b'"-12"', '"-12"', '"-12"'),
        (b'"0"', '"0"', '"0"'),
        (b'""', '""', '""'),
        ('"\u0661"'.encode(), '"\u0661"', '"\u0661"'),
        (b"[7]", "[7]", "[7]"),
        (b'{"id": 7}', '{"id":7}', '{"id":7}'),
        (b"9223372036854775808", "9223372036854775808", "9223372036854775808"),
        (b'"9223372036854775808"', '"9223372036854775808"', '"9223372036854775808"'),
        (b"18446744073709551616", "18446744073709551616", "18446744073709551616"),
    ],
    ids=[
        "bool",
        "float",
        "integral_float",
        "zero",
        "negative",
        "null",
        "letters",
        "digits_letters",
        "padded",
        "signed_string",
        "zero_string",
        "empty_string",
        "arabic_digit",
        "array",
        "object",
        "beyond_bigint",
        "beyond_bigint_string",
        "beyond_64_bits",
    ],
)
async def test_lead_id_invalid(client: TestClient, raw: bytes, echoed: object, shown: str) -> None:
    body = b'{"lead_ids": [1, "2", ' + raw + b', 4], "estado": "aprobado"}'
    status, data = await post_raw(client, body)

    assert status == 400
    assert data["error"] == "invalid_lead_ids"
    assert data["invalid_values"] == [{"position": 2, "value": echoed}]
    assert data["message"] == f"lead_ids contiene valores inválidos: posición 2 (valor {shown})"


async def test_lead_ids_invalid_listed(client: TestClient) -> None:
    lead_ids = [1, 0, 2, *[-n for n in range(1, 15)]]
    status, data = await post_json(
        client, {"lead_ids": lead_ids, "estado": "aprobado"}, language="en"
    )

    assert status == 400
    assert [item["position"] for item in data["invalid_values"]] == [1, *range(3, 12)]
    assert data["message"].startswith(
        "lead_ids contains invalid values: position 1 (value 0), position 3"
    )


async def test_lead_ids_long_value_shortened(client: TestClient) -> None:
    status, data = await post_json(client, {"lead_ids": ["x" * 1000], "estado": "aprobado"})

    assert status == 400
    assert data["invalid_values"][0]["value"] == '"' + "x" * 36 + "..."


async def test_digit_strings_accepted(client: TestClient, redis: Redis, settings: Settings) -> None:
    status, data = await post_json(
        client, {"lead_ids": ["3", 1, "0002", "3", 2], "estado": "aprobado"}
    )
    entries = await redis.xrange(settings.stream_key)

    assert status == 202
    assert data["total_leads"] == 3
    assert data["duplicates_removed"] == 2
    assert entries[0][1][b"ids"] == b"3,1,2"


async def test_digit_strings_only(client: TestClient, redis: Redis, settings: Settings) -> None:
    lead_ids = [str(lead_id) for lead_id in range(1, 251)] + ["0007", "250"]
    status, data = await post_json(client, {"lead_ids": lead_ids, "estado": "aprobado"})
    entries = await redis.xrange(settings.stream_key)

    assert status == 202
    assert data["total_leads"] == 250
    assert data["duplicates_removed"] == 2
    assert (
        b",".join(fields[b"ids"] for _, fields in entries)
        == ",".join(map(str, range(1, 251))).encode()
    )


@pytest.mark.parametrize(
    ("raw", "distinct", "duplicates"),
    [
        ([1, 2, 3], [1, 2, 3], 0),
        ([3, 2, 1], [3, 2, 1], 0),
        ([2, 1, 2, 1], [2, 1], 2),
        ([1, 2, 2, 3], [1, 2, 3], 1),
        (["1", "2", "2", "10"], [1, 2, 10], 1),
        (["2", "1", "010"], [2, 1, 10], 0),
        ([9223372036854775807, 1], [9223372036854775807, 1], 0),
    ],
    ids=[
        "ascending",
        "descending",
        "unsorted",
        "ascending_repeat",
        "strings",
        "leading_zero",
        "bigint",
    ],
)
def test_lead_ids_distinct(raw: list, distinct: list[int], duplicates: int) -> None:
    assert validate_lead_ids(raw, 100) == (distinct, duplicates)


@pytest.mark.parametrize(
    ("raw", "positions"),
    [
        ([0, 1, 2], [0]),
        ([1, 2, 2**63], [2]),
        ([True, 2, 3], [0]),
        ([1, 1.5, 2], [1]),
        (["1", "2", "30000000000000000000000"], [2]),
        (["1", "", "2"], [1]),
        (["1", "2,3"], [1]),
        ([5, "x", -1], [1, 2]),
    ],
    ids=[
        "zero_first",
        "beyond_bigint_last",
        "true_first",
        "float",
        "long_string",
        "empty_string",
        "comma",
        "mixed",
    ],
)
def test_lead_ids_rejected(raw: list, positions: list[int]) -> None:
    with pytest.raises(InvalidLeadIds) as raised:
        validate_lead_ids(raw, 100)

    assert [position for position, _ in raised.value.invalid] == positions


@pytest.mark.parametrize(
    ("estado", "shown"),
    [
        (5, "5"),
        (["APROBADO"], '["APROBADO"]'),
        ({"a": 1}, '{"a":1}'),
        (True, "true"),
        ("vendido", "vendido"),
        ("", ""),
        ("x" * 101, '"' + "x" * 36 + "..."),
    ],
    ids=["number", "array", "object", "bool", "unknown", "empty", "long"],
)
async def test_estado_invalid(client: TestClient, estado: object, shown: str) -> None:
    status, data = await post_json(client, {"lead_ids": [1], "estado": estado})

    assert status == 400
    assert data["error"] == "invalid_estado"
    assert data["message"] == f"Estado inválido: {shown}"
    assert data["estados_validos"] == ESTADOS


async def test_estado_invalid_en(client: TestClient) -> None:
    status, data = await post_json(client, {"lead_ids": [1], "estado": "sold"}, language="en")

    assert status == 400
    assert data["message"] == "Invalid status: sold"


@pytest.mark.parametrize(
    ("observaciones", "message"),
    [
        ("x" * 2001, "observaciones debe ser un texto de como máximo 2000 caracteres"),
        (12, "observaciones debe ser un texto de como máximo 2000 caracteres"),
        (["nota"], "observaciones debe ser un texto de como máximo 2000 caracteres"),
        ("nota\x00", "observaciones no puede contener el carácter nulo (\\u0000)"),
    ],
    ids=["too_long", "number", "array", "nul"],
)
async def test_observaciones_invalid(
    client: TestClient, observaciones: object, message: str
) -> None:
    status, data = await post_json(
        client, {"lead_ids": [1], "estado": "aprobado", "observaciones": observaciones}
    )

    assert status == 400
    assert data["error"] == "invalid_observaciones"
    assert data["message"] == message


async def test_observaciones_at_limit(client: TestClient, redis: Redis, settings: Settings) -> None:
    text = "ñ" * 2000
    status, _ = await post_json(
        client, {"lead_ids": [1], "estado": "aprobado", "observaciones": text}
    )
    entries = await redis.xrange(settings.stream_key)

    assert status == 202
    assert entries[0][1][b"obs"].decode() == f"Actualización masiva: {text}"


async def test_observaciones_absent(client: TestClient, redis: Redis, settings: Settings) -> None:
    status, _ = await post_json(
        client, {"lead_ids": [1], "estado": "aprobado", "observaciones": None}
    )
    entries = await redis.xrange(settings.stream_key)

    assert status == 202
    assert entries[0][1][b"obs"].decode() == "Actualización masiva de estado"


async def test_unknown_fields_ignored(client: TestClient) -> None:
    status, data = await post_json(
        client, {"lead_ids": [1], "estado": "aprobado", "extra": {"x": [1, None]}}
    )

    assert status == 202
    assert data["total_leads"] == 1


async def test_max_leads_per_job(settings: Settings, redis: Redis, db) -> None:
    async with api_client(with_settings(settings, max_leads_per_job=5)) as client:
        status, data = await post_json(
            client, {"lead_ids": [1, 2, 3, 4, 5, 6], "estado": "aprobado"}
        )

    assert status == 413
    assert data["error"] == "payload_too_large"
    assert data["max_leads"] == 5
    assert data["received"] == 6
    assert data["message"] == "Demasiados leads: el máximo por job es 5 y se recibieron 6"


async def test_max_leads_counts_distinct(settings: Settings, redis: Redis, db) -> None:
    async with api_client(with_settings(settings, max_leads_per_job=5)) as client:
        status, data = await post_json(
            client, {"lead_ids": [1, 2, 3, 4, 5, 5, "5"], "estado": "aprobado"}
        )

    assert status == 202
    assert data["total_leads"] == 5


async def raw_exchange(client: TestClient, head: bytes, body: bytes) -> bytes:
    """Send a request head and part of its body, leave the body unfinished, and read the status line."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=60)
    finally:
        writer.close()
    return status_line


def request_head(extra_headers: str) -> bytes:
    return (
        f"POST {SUBMIT_URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {make_token(1)}\r\n"
        f"Content-Type: application/json\r\n{extra_headers}\r\n"
    ).encode()


async def test_body_too_large_declared(settings: Settings, redis: Redis, db) -> None:
    async with api_client(with_settings(settings, max_body_bytes=64 * 1024)) as client:
        head = request_head(f"Content-Length: {1024 * 1024 * 1024}\r\n")
        status_line = await raw_exchange(client, head, b'{"lead_ids": [')

    assert status_line.startswith(b"HTTP/1.1 413")


async def test_body_too_large_chunked(settings: Settings, redis: Redis, db) -> None:
    chunk = b"1," * 16 * 1024
    body = b"".join(
        b"%x\r\n%s\r\n" % (len(part), part) for part in [b'{"lead_ids": [', *[chunk] * 4]
    )
    async with api_client(with_settings(settings, max_body_bytes=64 * 1024)) as client:
        status_line = await raw_exchange(
            client, request_head("Transfer-Encoding: chunked\r\n"), body
        )

    assert status_line.startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize("chunked", [False, True], ids=["content_length", "chunked"])
async def test_body_too_large_message(settings: Settings, redis: Redis, db, chunked: bool) -> None:
    payload = orjson.dumps({"lead_ids": list(range(1, 20_001)), "estado": "aprobado"})

    async def stream():
        for start in range(0, len(payload), 8192):
            yield payload[start : start + 8192]

    async with api_client(with_settings(settings, max_body_bytes=64 * 1024)) as client:
        upload = stream() if chunked else io.BytesIO(payload)
        response = await client.post(
            SUBMIT_URL, data=upload, headers=auth(1, **{"Accept-Language": "en"})
        )
        data = await response.json()

    assert len(payload) > 64 * 1024
    assert response.status == 413
    assert data["error"] == "payload_too_large"
    assert data["max_bytes"] == 65536
    assert data["message"] == "The body exceeds the maximum size of 65536 bytes"


async def test_huge_integer_echoed_as_sent(client: TestClient) -> None:
    body = b'{"lead_ids": [1, 99999999999999999999999999999], "estado": "aprobado"}'
    response = await client.post(
        "/api/crm/leads/bulk-status-async",
        data=body,
        headers={**auth(1), "Content-Type": "application/json"},
    )
    data = await response.json()

    assert response.status == 400
    assert data["error"] == "invalid_lead_ids"
    assert data["invalid_values"] == [{"position": 1, "value": "99999999999999999999999999999"}]
    assert "posición 1 (valor 99999999999999999999999999999)" in data["message"]


@pytest.mark.parametrize("url", [SUBMIT_URL, "/api/crm/leads/bulk-status"], ids=["async", "sync"])
async def test_body_not_gzip(client: TestClient, url: str) -> None:
    """A body labelled gzip that is not gzip is a 400 naming the encoding, never a 500."""
    headers = auth(1, **{"Content-Type": "application/json", "Content-Encoding": "gzip"})
    response = await client.post(
        url, data=b'{"lead_ids": [1], "estado": "aprobado"}', headers=headers
    )
    data = await response.json()

    assert response.status == 400
    assert data["error"] == "invalid_json"
    assert data["message"] == (
        "El cuerpo debe ser un objeto JSON válido: no se pudo leer con Content-Encoding gzip"
    )


async def test_body_gzip_accepted(client: TestClient) -> None:
    headers = auth(1, **{"Content-Type": "application/json", "Content-Encoding": "gzip"})
    body = gzip.compress(b'{"lead_ids": [1, 2], "estado": "aprobado"}')
    response = await client.post(SUBMIT_URL, data=body, headers=headers)
    data = await response.json()

    assert response.status == 202
    assert data["total_leads"] == 2


@pytest.mark.parametrize("encoding", ["xyz", "x-gzip"])
async def test_unknown_encoding_rejected(client: TestClient, encoding: str) -> None:
    headers = auth(
        1,
        **{"Content-Type": "application/json", "Content-Encoding": encoding, "Accept-Language": "en"},
    )
    response = await client.post(
        SUBMIT_URL, data=b'{"lead_ids": [1], "estado": "aprobado"}', headers=headers
    )
    data = await response.json()

    assert response.status == 415
    assert data["error"] == "unsupported_encoding"
    assert data["message"] == f"Unsupported Content-Encoding: {encoding}; use gzip, deflate or none"
    assert data["supported_encodings"] == ["gzip", "deflate"]
