"""Reading and validating the body of the bulk endpoints: every rejection is a 4xx naming the problem."""

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from api_service.errors import REQUEST_ID, ApiError
from api_service.json_object import parse_json_object
from api_service.lead_ids import InvalidLeadIds, NumberText, describe, validate_lead_ids
from shared.logs import get_logger
from shared.models import MAX_BIGINT
from shared.states import StateCatalog

log = get_logger(__name__)

READ_BLOCK_BYTES = 256 * 1024
# Content codings that aiohttp decodes here. It reads a body in an unknown coding as is, and
# rejects br and zstd itself while their optional packages are not installed.
DECODED_ENCODINGS = ("gzip", "deflate")
ACCEPTED_ENCODINGS = frozenset({"", "identity", *DECODED_ENCODINGS})
# No state name comes near this length; a longer estado is unknown without normalising it, and
# is shortened when echoed.
MAX_ESTADO_CHARS = 100


@dataclass(frozen=True)
class BulkRequest:
    """A validated bulk request: distinct lead ids in first-seen order and the canonical estado."""

    lead_ids: list[int]
    estado: str
    observaciones: str | None
    duplicates_removed: int

    @property
    def history_text(self) -> str:
        """The observaciones text stored in each history row."""
        if self.observaciones:
            return f"Actualización masiva: {self.observaciones}"
        return "Actualización masiva de estado"


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", values={"limit": limit}, extra={"max_bytes": limit})


def _check_encoding(request: web.Request) -> None:
    """Reject with a 415 a Content-Encoding that aiohttp would pass through undecoded."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ACCEPTED_ENCODINGS:
        return
    raise ApiError(
        415,
        "unsupported_encoding",
        values={"encoding": encoding[:40], "supported": ", ".join(DECODED_ENCODINGS)},
        extra={"supported_encodings": list(DECODED_ENCODINGS)},
    )


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """Read at most `max_bytes`; a larger declared or actual body is a 413 before it is buffered."""
    _check_encoding(request)
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)

    parts: list[bytes] = []
    size = 0
    while True:
        try:
            block = await request.content.read(READ_BLOCK_BYTES)
        except RequestPayloadError as error:
            raise _undecodable(request, error) from error
        if not block:
            break
        size += len(block)
        if size > max_bytes:
            raise _too_large(max_bytes)
        parts.append(block)
    return b"".join(parts)


def _undecodable(request: web.Request, error: RequestPayloadError) -> ApiError:
    """Log and return the 400 for a body that its Content-Encoding cannot decode, or that ends
    before its declared length."""
    encoding = request.headers.get("Content-Encoding", "identity")
    log.info(
        "body_rejected",
        reason="undecodable",
        request_id=request[REQUEST_ID],
        content_encoding=encoding,
        error=repr(error.__cause__ or error),
    )
    return ApiError(400, "invalid_json", "body_undecodable", values={"encoding": encoding[:40]})


def validate_estado(raw: object, catalog: StateCatalog) -> str:
    """Return the canonical state for a caller's spelling; 400 with the valid states otherwise."""
    if isinstance(raw, str) and len(raw) <= MAX_ESTADO_CHARS:
        estado = catalog.resolve(raw)
        if estado is not None:
            return estado

    echoed = raw if isinstance(raw, str) and len(raw) <= MAX_ESTADO_CHARS else describe(raw)
    raise ApiError(
        400,
        "invalid_estado",
        values={"raw": echoed},
        extra={"estados_validos": list(catalog.states)},
    )


def validate_observaciones(raw: object, max_chars: int) -> str | None:
    """Return observaciones trimmed, or None; 400 unless a string of at most `max_chars` characters
    without NUL, which PostgreSQL text cannot store."""
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > max_chars:
        raise ApiError(
            400,
            "invalid_observaciones",
            values={"limit": max_chars},
            extra={"max_chars": max_chars},
        )
    if "\x00" in raw:
        raise ApiError(400, "invalid_observaciones", "observaciones_nul")
    return raw.strip() or None


def validate_bulk_request(
    data: dict[str, Any], catalog: StateCatalog, max_leads: int, max_observaciones: int
) -> BulkRequest:
    """Check the fields in the contract's order: presence, lead_ids, estado, observaciones.

    A required field sent as null counts as missing.
    """
    if data.get("lead_ids") is None or data.get("estado") is None:
        raise ApiError(400, "missing_fields")

    lead_ids, duplicates = validate_lead_ids(data["lead_ids"], max_leads)
    estado = validate_estado(data["estado"], catalog)
    observaciones = validate_observaciones(data.get("observaciones"), max_observaciones)
    return BulkRequest(
        lead_ids=lead_ids, estado=estado, observaciones=observaciones, duplicates_removed=duplicates
    )


async def parse_bulk_body(
    request: web.Request,
    catalog: StateCatalog,
    max_body_bytes: int,
    max_leads: int,
    max_observaciones: int,
) -> BulkRequest:
    """Read, decode and validate the body of a bulk request."""
    body = await read_body(request, max_body_bytes)
    data = parse_json_object(body)
    try:
        return validate_bulk_request(data, catalog, max_leads, max_observaciones)
    except InvalidLeadIds as error:
        if not any(_beyond_bigint(value) for _, value in error.invalid):
            raise
        raise InvalidLeadIds(numbers_as_sent(body, error.invalid)) from error


def numbers_as_sent(body: bytes, invalid: list[tuple[int, object]]) -> list[tuple[int, object]]:
    """Replace rejected floats by their text in the body: orjson reads integers beyond 64 bits
    as floats, so 99999999999999999999999999999 would otherwise be echoed as 1e+29."""
    try:
        exact = json.loads(body, parse_int=NumberText, parse_float=NumberText, parse_constant=NumberText)
        sent = exact["lead_ids"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return invalid
    return [(position, sent[position] if _beyond_bigint(value) else value) for position, value in invalid]


def _beyond_bigint(value: object) -> bool:
    return type(value) is float and abs(value) > MAX_BIGINT
