-- A dead-lettered chunk gets a marker too, with every lead failed as `dead_letter`. It keeps a
-- worker that stalled past CLAIM_IDLE_MS from applying the chunk afterwards, and keeps the chunk's
-- failures listed once the job's Redis state has expired. A replay deletes it and applies the chunk.
ALTER TABLE crm_bulk_job_chunks ADD COLUMN IF NOT EXISTS dead_lettered boolean NOT NULL DEFAULT false;
