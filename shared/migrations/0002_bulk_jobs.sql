-- One row per applied chunk of a bulk job, written in the chunk's own transaction. Its primary
-- key makes a second delivery of the chunk detectable, and its columns keep the chunk's outcome
-- so that progress can be recorded again from committed facts.
CREATE TABLE IF NOT EXISTS crm_bulk_job_chunks (
    job_id          text        NOT NULL,
    chunk           integer     NOT NULL,
    request_seq     bigint      NOT NULL,
    lead_count      integer     NOT NULL,
    failed_ids      bigint[]    NOT NULL DEFAULT '{}',
    failed_codes    text[]      NOT NULL DEFAULT '{}',
    superseded      integer     NOT NULL DEFAULT 0,
    applied_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, chunk)
);

-- Durable summary of each finished job; Redis keeps the live state only until its retention ends.
CREATE TABLE IF NOT EXISTS crm_bulk_jobs (
    job_id           text        PRIMARY KEY,
    user_id          bigint      NOT NULL,
    estado           text        NOT NULL,
    observaciones    text,
    status           text        NOT NULL,
    total_leads      integer     NOT NULL,
    successful_leads integer     NOT NULL DEFAULT 0,
    failed_leads     integer     NOT NULL DEFAULT 0,
    cancelled_leads  integer     NOT NULL DEFAULT 0,
    request_seq      bigint      NOT NULL,
    error_message    text,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    completed_at     timestamptz
);

CREATE INDEX IF NOT EXISTS crm_bulk_jobs_user_idx ON crm_bulk_jobs (user_id, created_at DESC);
