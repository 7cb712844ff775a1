-- Defines end_job, which record_chunk.lua and cancel_job.lua share: it is prepended to them when
-- they are loaded. It sets a job's final status and finish time, starts the retention of its
-- keys, frees its pending slot and queues the write of its PostgreSQL summary.
-- job_keys: job hash, chunks hash, failures list, user's pending set, expiring jobs index,
--           unsummarised jobs (sorted by finish time).
local function end_job(job_keys, job_id, user_id, status, now, ttl)
    redis.call('HSET', job_keys[1], 'status', status, 'completed_at', now)
    for i = 1, 3 do
        redis.call('EXPIRE', job_keys[i], ttl)
    end
    redis.call('SREM', job_keys[4], job_id)
    redis.call('ZADD', job_keys[5], math.floor(tonumber(now)) + ttl, user_id .. ':' .. job_id)
    redis.call('ZADD', job_keys[6], now, job_id)
end
