"""URL table of the API, mounted under the optional API_PREFIX."""

from aiohttp import web

from api_service.views import bulk, docs, health, jobs

API_BASE = "/api/crm"
SUBMIT_PATH = f"{API_BASE}/leads/bulk-status-async"


def setup_routes(app: web.Application, prefix: str) -> None:
    """The job endpoints under `<prefix>/api/crm`; operations endpoints at the root and under the prefix."""
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
