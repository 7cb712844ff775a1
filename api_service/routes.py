"""URL table of the API, mounted under the optional API_PREFIX."""

from aiohttp import web

from api_service.views import bulk, docs, health, jobs

API_BASE = "/api/crm"
SUBMIT_PATH = f"{API_BASE}/leads/bulk-status-async"


def setup_routes(app: web.Application, prefix: str) -> None:
    """Add the job endpoints under `<prefix>/api/crm`.

    The operations endpoints (probes, metrics, the OpenAPI document) are served at the root and,
    when a prefix is set, under it too.
    """
    base = f"{prefix}{API_BASE}"
    app.router.add_post(f"{prefix}{SUBMIT_PATH}", bulk.submit_bulk_job)
    app.router.add_post(f"{base}/leads/bulk-status", bulk.update_leads_now)
    app.router.add_get(f"{base}/jobs", jobs.list_jobs)
    app.router.add_get(f"{base}/jobs/{{job_id}}", jobs.get_job)
    app.router.add_delete(f"{base}/jobs/{{job_id}}", jobs.cancel_job)
    app.router.add_get(f"{base}/jobs/{{job_id}}/failures", jobs.get_job_failures)

    for root in dict.fromkeys(("", prefix)):
        app.router.add_get(f"{root}/healthz", health.healthz)
        app.router.add_get(f"{root}/readyz", health.readyz)
        app.router.add_get(f"{root}/metrics", health.metrics)
        app.router.add_get(f"{root}/api/openapi.json", docs.openapi_document)
