"""The OpenAPI 3.1 document of the API, generated from the pydantic models that the handlers return.

Paths are relative to the one server URL, which is API_PREFIX, so the document stays valid
behind any prefix. Error responses name the codes each status can carry, with a Spanish example.
"""

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared import __version__, models
from shared.messages import message
from shared.settings import Settings

REF = "#/components/schemas/{model}"
BEARER = [{"bearerAuth": []}]

RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    models.JobAccepted,
    models.JobProgress,
    models.JobCancelled,
    models.JobList,
    models.JobFailures,
    models.SyncResult,
    models.Health,
    models.Readiness,
    models.ErrorBody,
    models.BadRequestError,
    models.PayloadTooLargeError,
    models.JobFinishedError,
    models.RetryLaterError,
    models.NotReadyError,
)

# Error codes each status can carry, and the message key of the example shown for it.
BODY_ERRORS = (
    "invalid_json",
    "missing_fields",
    "invalid_lead_ids",
    "invalid_estado",
    "invalid_observaciones",
    "too_many_leads",
    "invalid_idempotency_key",
    "bad_request",
)
ERROR_CODES: dict[int, tuple[str, ...]] = {
    401: ("token_required", "invalid_token"),
    403: ("forbidden",),
    404: ("job_not_found", "not_found"),
    409: ("job_finished",),
    413: ("payload_too_large",),
    415: ("unsupported_encoding",),
    422: ("idempotency_key_reused",),
    429: ("rate_limit_exceeded",),
    500: ("internal_error",),
    503: ("service_unavailable",),
}
# Message keys and placeholder values of the examples, for codes whose text varies.
EXAMPLE_KEYS = {"invalid_lead_ids": "lead_ids_not_array", "invalid_query": "invalid_query_integer"}
EXAMPLE_VALUES: dict[str, object] = {
    "limit": 100,
    "retry_after": 5,
    "status": "completed",
    "raw": "VENDIDO",
    "name": "limit",
    "minimum": 1,
    "maximum": 100,
    "names": "redis",
    "encoding": "br",
    "supported": "gzip, deflate",
}
# Named fields that the models of some errors require.
EXAMPLE_FIELDS: dict[str, dict[str, object]] = {
    "job_finished": {"status": "completed"},
    "rate_limit_exceeded": {"retry_after": 5},
    "service_unavailable": {"retry_after": 5},
    "not_ready": {"unreachable": ["redis"]},
}


def ref(model: type[BaseModel] | str) -> dict[str, str]:
    name = model if isinstance(model, str) else model.__name__
    return {"$ref": REF.format(model=name)}


def component_schemas() -> dict[str, Any]:
    """JSON schemas of the request model (as validated) and the response models (as serialised)."""
    pairs = [(models.BulkStatusRequest, "validation")]
    pairs += [(model, "serialization") for model in RESPONSE_MODELS]
    _, document = models_json_schema(pairs, ref_template=REF)  # type: ignore[arg-type]
    return document["$defs"]


def _example(code: str) -> dict[str, Any]:
    text = message(EXAMPLE_KEYS.get(code, code), "es", **EXAMPLE_VALUES)
    return {"success": False, "error": code, "message": text, **EXAMPLE_FIELDS.get(code, {})}


def _error_schema(model: type[BaseModel], codes: tuple[str, ...]) -> dict[str, Any]:
    return {"allOf": [ref(model), {"properties": {"error": {"enum": list(codes)}}}]}


def error_response(
    status: int,
    description: str,
    *,
    codes: tuple[str, ...] | None = None,
    model: type[BaseModel] = models.ErrorBody,
    headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Describe an error response whose `error` is one of `codes`; the first code is the example."""
    codes = codes or ERROR_CODES[status]
    response: dict[str, Any] = {
        "description": f"{description} Codes: {', '.join(codes)}.",
        "content": {
            "application/json": {
                "schema": _error_schema(model, codes),
                "example": _example(codes[0]),
            }
        },
    }
    if headers:
        response["headers"] = headers
    return response


def json_response(
    description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


def header_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def parameter_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def common_errors(*, authenticated: bool = True) -> dict[str, Any]:
    """Describe the errors that any endpoint under /api/crm can return."""
    retry = {"Retry-After": header_ref("RetryAfter")}
    errors: dict[str, Any] = {
        "500": error_response(
            500, "Unexpected failure; the details are logged with the request id."
        ),
        "503": error_response(
            503,
            "Redis or PostgreSQL is unreachable; retry later.",
            model=models.RetryLaterError,
            headers=retry,
        ),
    }
    if authenticated:
        errors["401"] = error_response(
            401,
            "Missing, malformed, expired or wrongly signed token.",
            headers={"WWW-Authenticate": header_ref("WWWAuthenticate")},
        )
        errors["403"] = error_response(
            403, "The token carries neither the admin nor the cliente role."
        )
    return errors


def bulk_errors() -> dict[str, Any]:
    """Errors of both bulk endpoints besides the common ones."""
    return {
        "400": error_response(
            400,
            "The body was rejected; the message names the problem.",
            codes=BODY_ERRORS,
            model=models.BadRequestError,
        ),
        "413": error_response(
            413,
            "The body or the number of ids exceeds its limit.",
            model=models.PayloadTooLargeError,
        ),
        "415": error_response(
            415, "The body's Content-Encoding is neither gzip nor deflate."
        ),
        "429": error_response(
            429,
            "A per-user rate limit was reached.",
            model=models.RetryLaterError,
            headers={"Retry-After": header_ref("RetryAfter")},
        ),
    }


def submit_operation(settings: Settings) -> dict[str, Any]:
    accepted_headers = {
        "Location": header_ref("Location"),
        "Retry-After": header_ref("RetryAfter"),
        "Idempotent-Replayed": header_ref("IdempotentReplayed"),
    }
    return {
        "operationId": "submitBulkStatusJob",
        "summary": "Queue a status change for many leads",
        "description": (
            f"Accepts up to {settings.max_leads_per_job} distinct ids in a body of at most "
            f"{settings.max_body_bytes} bytes and answers at once; a worker applies the job."
        ),
        "security": BEARER,
        "parameters": [parameter_ref("AcceptLanguage"), parameter_ref("IdempotencyKey")],
        "requestBody": _bulk_body(),
        "responses": {
            "202": json_response("Job queued.", ref(models.JobAccepted), accepted_headers),
            **bulk_errors(),
            "422": error_response(422, "The Idempotency-Key was used with a different body."),
            **common_errors(),
        },
    }


def sync_operation(settings: Settings) -> dict[str, Any]:
    errors = bulk_errors()
    rejected = _error_schema(models.BadRequestError, BODY_ERRORS)
    errors["400"] = json_response(
        f"No lead could be changed (a SyncResult), or the body was rejected, including more than "
        f"{settings.sync_max_leads} ids (too_many_leads). Codes: {', '.join(BODY_ERRORS)}.",
        {"anyOf": [ref(models.SyncResult), rejected]},
    )
    return {
        "operationId": "updateLeadStatusNow",
        "summary": "Change the status of a few leads in one transaction",
        "security": BEARER,
        "parameters": [parameter_ref("AcceptLanguage")],
        "requestBody": _bulk_body(),
        "responses": {
            "200": json_response("Every lead changed.", ref(models.SyncResult)),
            "207": json_response(
                "Some leads changed; failed_leads names the others.", ref(models.SyncResult)
            ),
            **errors,
            **common_errors(),
        },
    }


def _bulk_body() -> dict[str, Any]:
    example = {"lead_ids": [1, 2, 3], "estado": "aprobado", "observaciones": "Campaña de enero"}
    return {
        "required": True,
        "content": {
            "application/json": {"schema": ref(models.BulkStatusRequest), "example": example}
        },
    }


def list_operation() -> dict[str, Any]:
    return {
        "operationId": "listJobs",
        "summary": "The caller's kept jobs, newest first (every job for admins)",
        "security": BEARER,
        "parameters": [
            parameter_ref("AcceptLanguage"),
            _query(
                "status",
                {"type": "string", "enum": list(models.JOB_STATUSES)},
                "Only jobs in this status.",
            ),
            _query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                "Jobs per page.",
            ),
            _query("cursor", {"type": "string"}, "The next_cursor of the previous page."),
        ],
        "responses": {
            "200": json_response("A page of jobs.", ref(models.JobList)),
            "400": error_response(
                400,
                "A query parameter was rejected.",
                codes=("invalid_query",),
                model=models.BadRequestError,
            ),
            **common_errors(),
        },
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def job_operation() -> dict[str, Any]:
    return {
        "operationId": "getJob",
        "summary": "A job's progress, with its failed leads inline up to a cap",
        "security": BEARER,
        "parameters": [parameter_ref("AcceptLanguage")],
        "responses": {
            "200": json_response("The job.", ref(models.JobProgress)),
            "404": error_response(404, "No such job, or a job of another user."),
            **common_errors(),
        },
    }


def cancel_operation() -> dict[str, Any]:
    return {
        "operationId": "cancelJob",
        "summary": "Cancel a job: chunks not yet applied are skipped, counts are kept",
        "security": BEARER,
        "parameters": [parameter_ref("AcceptLanguage")],
        "responses": {
            "200": json_response("Cancellation recorded.", ref(models.JobCancelled)),
            "404": error_response(404, "No such job, or a job of another user."),
            "409": error_response(409, "The job already finished.", model=models.JobFinishedError),
            **common_errors(),
        },
    }


def failures_operation() -> dict[str, Any]:
    return {
        "operationId": "listJobFailures",
        "summary": "Every failed lead of a job, a page at a time",
        "security": BEARER,
        "parameters": [
            parameter_ref("AcceptLanguage"),
            _query(
                "offset",
                {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0},
                "Skip this many.",
            ),
            _query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                "Failures per page.",
            ),
        ],
        "responses": {
            "200": json_response("A page of failures.", ref(models.JobFailures)),
            "400": error_response(
                400,
                "A query parameter was rejected.",
                codes=("invalid_query",),
                model=models.BadRequestError,
            ),
            "404": error_response(404, "No such job, or a job of another user."),
            **common_errors(),
        },
    }


def operations_paths() -> dict[str, Any]:
    """Probes, metrics and this document: public, no token."""
    text = {
        "description": "Prometheus text exposition.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    document = {
        "description": "This document.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    not_ready = error_response(
        503,
        "A dependency is unreachable; `unreachable` names it.",
        codes=("not_ready",),
        model=models.NotReadyError,
        headers={"Retry-After": header_ref("RetryAfter")},
    )
    return {
        "/healthz": {
            "get": _public(
                "healthz", "The process is alive", json_response("Alive.", ref(models.Health))
            )
        },
        "/readyz": {
            "get": _public(
                "readyz",
                "Redis and PostgreSQL are reachable",
                json_response("Ready.", ref(models.Readiness)),
                {"503": not_ready},
            )
        },
        "/metrics": {"get": _public("metrics", "Request and job counters for Prometheus", text)},
        "/api/openapi.json": {"get": _public("openapi", "This OpenAPI document", document)},
    }


def _public(
    operation_id: str, summary: str, ok: dict[str, Any], errors: dict[str, Any] | None = None
) -> dict[str, Any]:
    responses = {"200": ok, **(errors or {}), "500": error_response(500, "Unexpected failure.")}
    return {"operationId": operation_id, "summary": summary, "security": [], "responses": responses}


def components(settings: Settings) -> dict[str, Any]:
    return {
        "schemas": component_schemas(),
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": (
                    f"Algorithms: {', '.join(settings.jwt_algorithms)}. `exp` is required. "
                    "The user id is `sub` (or `data.id`) and `roles` must include admin or cliente."
                ),
            }
        },
        "parameters": {
            "AcceptLanguage": {
                "name": "Accept-Language",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": (
                    "Messages are Spanish unless English is preferred, e.g. `en` or "
                    "`es;q=0.5, en;q=0.9`."
                ),
            },
            "IdempotencyKey": {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": "^[ -~]+$",
                },
                "description": (
                    "Printable ASCII. Replays within 24 h return the first job's response. "
                    "The same key with another body gets 422."
                ),
            },
            "JobId": {
                "name": "job_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": "^bulk_[0-9a-f]{8,64}_[0-9]{1,12}$"},
            },
        },
        "headers": {
            "Location": {
                "required": True,
                "schema": {"type": "string"},
                "description": "The job's status URL.",
            },
            "RetryAfter": {
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
                "description": "Seconds to wait before asking again.",
            },
            "IdempotentReplayed": {
                "required": False,
                "schema": {"type": "string", "enum": ["true"]},
                "description": (
                    "Present when the response is the first job's, sent again for a repeated "
                    "Idempotency-Key."
                ),
            },
            "WWWAuthenticate": {
                "required": True,
                "schema": {"type": "string", "pattern": "^Bearer"},
                "description": "The Bearer challenge.",
            },
        },
    }


def api_paths(settings: Settings) -> dict[str, Any]:
    job_id = [parameter_ref("JobId")]
    return {
        "/api/crm/leads/bulk-status-async": {"post": submit_operation(settings)},
        "/api/crm/leads/bulk-status": {"post": sync_operation(settings)},
        "/api/crm/jobs": {"get": list_operation()},
        "/api/crm/jobs/{job_id}": {
            "parameters": job_id,
            "get": job_operation(),
            "delete": cancel_operation(),
        },
        "/api/crm/jobs/{job_id}/failures": {"parameters": job_id, "get": failures_operation()},
    }


def build_document(settings: Settings) -> dict[str, Any]:
    """Build the whole document for these settings, which set its prefix, limits and algorithms."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CRM bulk lead status API",
            "version": __version__,
            "description": (
                "Changes the status (estado) of many leads at once. Every error body is "
                '`{"success": false, "error": <code>, "message": <text>}` plus named fields. '
                "Messages are Spanish by default and English with `Accept-Language: en`. Unknown "
                "paths get 404 (not_found) and wrong methods 405 (method_not_allowed, with an Allow "
                "header) in that shape."
            ),
        },
        "servers": [{"url": settings.normalized_prefix or "/"}],
        "paths": {**api_paths(settings), **operations_paths()},
        "components": components(settings),
    }
