"""Caller-facing texts in Spanish (the default) and English, keyed by stable codes.

The Spanish texts are fixed by existing clients of the original system: keep them exactly.
"""

import re
from typing import Literal

Language = Literal["es", "en"]

# An Accept-Language header lists a handful of ranges; the rest of an oversized one is ignored.
MAX_LANGUAGE_RANGES = 20
SUPPORTED_LANGUAGES: dict[str, Language] = {"es": "es", "en": "en"}
QUALITY = re.compile(r"\s*q\s*=\s*([01](?:\.[0-9]{0,3})?)\s*")

MESSAGES: dict[str, dict[Language, str]] = {
    "token_required": {"es": "Token requerido", "en": "Token required"},
    "invalid_token": {"es": "Token inválido o expirado", "en": "Invalid or expired token"},
    "forbidden": {
        "es": "Acceso denegado: solo clientes o administradores",
        "en": "Access denied: clients or administrators only",
    },
    "invalid_json": {
        "es": "El cuerpo debe ser un objeto JSON válido",
        "en": "The body must be a valid JSON object",
    },
    "body_undecodable": {
        "es": "El cuerpo debe ser un objeto JSON válido: no se pudo leer con Content-Encoding {encoding}",
        "en": "The body must be a valid JSON object: it could not be read with Content-Encoding {encoding}",
    },
    "unsupported_encoding": {
        "es": "Content-Encoding no soportado: {encoding}; use {supported} o ninguno",
        "en": "Unsupported Content-Encoding: {encoding}; use {supported} or none",
    },
    "duplicate_keys": {
        "es": "El cuerpo debe ser un objeto JSON válido: clave repetida {key}",
        "en": "The body must be a valid JSON object: repeated key {key}",
    },
    "missing_fields": {
        "es": "Campos requeridos: lead_ids (array), estado (string)",
        "en": "Required fields: lead_ids (array), estado (string)",
    },
    "lead_ids_not_array": {"es": "lead_ids debe ser un array", "en": "lead_ids must be an array"},
    "lead_ids_empty": {"es": "lead_ids no puede estar vacío", "en": "lead_ids cannot be empty"},
    "lead_ids_invalid": {
        "es": "lead_ids contiene valores inválidos: {items}",
        "en": "lead_ids contains invalid values: {items}",
    },
    "invalid_item": {"es": "posición {position} (valor {value})", "en": "position {position} (value {value})"},
    "invalid_estado": {"es": "Estado inválido: {raw}", "en": "Invalid status: {raw}"},
    "invalid_observaciones": {
        "es": "observaciones debe ser un texto de como máximo {limit} caracteres",
        "en": "observaciones must be a string of at most {limit} characters",
    },
    "observaciones_nul": {
        "es": "observaciones no puede contener el carácter nulo (\\u0000)",
        "en": "observaciones cannot contain the null character (\\u0000)",
    },
    "too_many_leads": {
        "es": "Límite máximo de {limit} leads por request",
        "en": "At most {limit} leads per request",
    },
    "too_many_leads_job": {
        "es": "Demasiados leads: el máximo por job es {limit} y se recibieron {received}",
        "en": "Too many leads: the maximum per job is {limit} and {received} were received",
    },
    "payload_too_large": {
        "es": "El cuerpo supera el tamaño máximo de {limit} bytes",
        "en": "The body exceeds the maximum size of {limit} bytes",
    },
    "job_not_found": {
        "es": "Job no encontrado o no tienes permiso para verlo",
        "en": "Job not found or not yours",
    },
    "job_finished": {
        "es": "No se puede cancelar un job finalizado (estado: {status})",
        "en": "A finished job cannot be cancelled (status: {status})",
    },
    "idempotency_key_reused": {
        "es": "La Idempotency-Key ya se usó con un cuerpo distinto",
        "en": "The Idempotency-Key was already used with a different body",
    },
    "rate_limit_exceeded": {
        "es": "Límite de {limit} superado; reintenta en {retry_after} segundos",
        "en": "Limit of {limit} exceeded; retry in {retry_after} seconds",
    },
    "rate_limit_pending_jobs": {"es": "{limit} jobs pendientes", "en": "{limit} pending jobs"},
    "rate_limit_jobs_per_day": {"es": "{limit} jobs por día", "en": "{limit} jobs per day"},
    "rate_limit_leads_per_day": {"es": "{limit} leads por día", "en": "{limit} leads per day"},
    "rate_limit_cooldown": {"es": "un job cada {limit} segundos", "en": "one job every {limit} seconds"},
    "invalid_idempotency_key": {
        "es": "Idempotency-Key inválida: debe ser un solo valor de 1 a {limit} caracteres ASCII imprimibles",
        "en": "Invalid Idempotency-Key: it must be one value of 1 to {limit} printable ASCII characters",
    },
    "service_unavailable": {
        "es": "Servicio no disponible temporalmente; reintenta en {retry_after} segundos",
        "en": "Service temporarily unavailable; retry in {retry_after} seconds",
    },
    "not_ready": {
        "es": "Servicio no listo: sin conexión con {names}",
        "en": "Service not ready: cannot reach {names}",
    },
    "invalid_query_integer": {
        "es": "Parámetro de consulta inválido: {name} debe ser un entero entre {minimum} y {maximum}",
        "en": "Invalid query parameter: {name} must be an integer between {minimum} and {maximum}",
    },
    "invalid_query_status": {
        "es": "Parámetro de consulta inválido: status debe ser uno de {allowed}",
        "en": "Invalid query parameter: status must be one of {allowed}",
    },
    "invalid_query_repeated": {
        "es": "Parámetro de consulta inválido: {name} aparece más de una vez",
        "en": "Invalid query parameter: {name} appears more than once",
    },
    "invalid_query_cursor": {
        "es": "Parámetro de consulta inválido: cursor debe ser el next_cursor de una página anterior",
        "en": "Invalid query parameter: cursor must be the next_cursor of a previous page",
    },
    "not_found": {"es": "Ruta no encontrada", "en": "Route not found"},
    "method_not_allowed": {
        "es": "Método no permitido: {method}; se permite {allowed}",
        "en": "Method not allowed: {method}; allowed: {allowed}",
    },
    "bad_request": {"es": "Solicitud inválida", "en": "Bad request"},
    "internal_error": {"es": "Error interno del servidor", "en": "Internal server error"},
    "job_cancelled": {
        "es": "Cancelación registrada: los lotes pendientes se omitirán",
        "en": "Cancellation recorded: pending chunks will be skipped",
    },
    "job_queued": {"es": "Job encolado para procesamiento", "en": "Job queued for processing"},
    "job_queued_warning_one": {
        "es": "Job encolado. 1 lead puede fallar.",
        "en": "Job queued. 1 lead may fail.",
    },
    "job_queued_warning_many": {
        "es": "Job encolado. {count} leads pueden fallar.",
        "en": "Job queued. {count} leads may fail.",
    },
    "sync_result": {
        "es": "{updated} de {total} leads actualizados exitosamente",
        "en": "{updated} of {total} leads updated successfully",
    },
}

# Per-lead errors: job progress stores the code, each response renders it in its language.
LEAD_ERRORS: dict[str, dict[Language, str]] = {
    "not_found": {"es": "Lead no encontrado", "en": "Lead not found"},
    "forbidden": {"es": "Sin permiso", "en": "No permission"},
    "dead_letter": {
        "es": "No se pudo procesar el lote tras varios intentos",
        "en": "The chunk could not be processed after several attempts",
    },
}

# The sync endpoint keeps the original system's longer wording for a lead of another client.
SYNC_LEAD_ERRORS: dict[str, dict[Language, str]] = {
    **LEAD_ERRORS,
    "forbidden": {"es": "No tienes permiso para este lead", "en": "You do not have permission for this lead"},
}


def message(code: str, language: Language, **values: object) -> str:
    """Render the text for `code` in `language`, filling its placeholders."""
    return MESSAGES[code][language].format(**values)


def lead_error(code: str, language: Language, sync: bool = False) -> str:
    table = SYNC_LEAD_ERRORS if sync else LEAD_ERRORS
    texts = table.get(code)
    if texts is None:
        return code
    return texts[language]


def pick_language(accept_language: str | None) -> Language:
    """Choose the supported language the caller weights highest; Spanish when it names neither."""
    if not accept_language:
        return "es"

    chosen: Language = "es"
    best_weight = 0.0
    for item in accept_language.split(",")[:MAX_LANGUAGE_RANGES]:
        language, weight = _parse_language_range(item)
        if language is not None and weight > best_weight:
            chosen, best_weight = language, weight
    return chosen


def _parse_language_range(item: str) -> tuple[Language | None, float]:
    """Read one `tag;q=weight` entry: the supported language it names and its weight (default 1)."""
    tag, _, parameters = item.partition(";")
    primary = tag.strip().lower().replace("_", "-").split("-")[0]
    language = SUPPORTED_LANGUAGES.get(primary)

    weight = 1.0
    for parameter in parameters.split(";"):
        match = QUALITY.fullmatch(parameter)
        if match:
            weight = float(match.group(1))
    return language, weight
