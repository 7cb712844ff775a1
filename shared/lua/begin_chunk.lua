-- Decides whether a chunk should run, and marks a queued job processing when it does.
-- A chunk's first start is counted (chunks_started, leads_started), so that a cancel can tell
-- which leads no worker has touched and which chunks are still in flight.
-- KEYS: job hash, job chunks hash. ARGV: chunk number, now, replay flag ('1' for an operator
-- replay), the chunk's lead count.
-- Returns 'missing' (no job hash), 'recorded' (chunk already counted), 'cancelled' (not started
-- before the job was cancelled), 'run', or 'replay' (a replayed chunk whose recorded outcome is a
-- dead letter, which the replay replaces).
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end

local recorded = redis.call('HGET', KEYS[2], ARGV[1])
if recorded then
    if ARGV[3] == '1' and string.sub(recorded, -5) == ':dead' then return 'replay' end
    return 'recorded'
end

local status = redis.call('HGET', KEYS[1], 'status')
local started_field = 'started:' .. ARGV[1]
if redis.call('HEXISTS', KEYS[2], started_field) == 0 then
    if status == 'cancelled' or redis.call('HEXISTS', KEYS[1], 'cancel_requested_at') == 1 then
        return 'cancelled'
    end
    redis.call('HSET', KEYS[2], started_field, ARGV[2])
    redis.call('HINCRBY', KEYS[1], 'chunks_started', 1)
    redis.call('HINCRBY', KEYS[1], 'leads_started', ARGV[4])
end
if status == 'queued' then
    redis.call('HSET', KEYS[1], 'status', 'processing', 'started_at', ARGV[2])
end
return 'run'
