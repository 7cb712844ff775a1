"""Caller-facing texts in Spanish (the default) and English, keyed by stable codes.

The Spanish texts are fixed by existing clients of the original system: keep them exactly.
"""

from typing import Literal

Language = Literal["es", "en"]

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
    "service_unavailable": {
        "es": "Servicio no disponible temporalmente; reintenta en {retry_after} segundos",
        "en": "Service temporarily unavailable; retry in {retry_after} seconds",
    },
    "invalid_query": {
        "es": "Parámetro de consulta inválido: {name}",
        "en": "Invalid query parameter: {name}",
    },
    "not_found": {"es": "Ruta no encontrada", "en": "Route not found"},
    "method_not_allowed": {"es": "Método no permitido", "en": "Method not allowed"},
    "internal_error": {"es": "Error interno del servidor", "en": "Internal server error"},
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
    """Choose English only when the caller's first preference is English; Spanish otherwise."""
    if not accept_language:
        return "es"
    first = accept_language.split(",")[0].split(";")[0].strip().lower()
    return "en" if first == "en" or first.startswith("en-") else "es"
