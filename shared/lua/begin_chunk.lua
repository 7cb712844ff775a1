-- Decides whether a chunk should run, and marks a queued job processing when it does.
-- KEYS: job hash, job chunks hash. ARGV: chunk number, now, replay flag ('1' for an operator replay).
-- Returns 'missing' (no job hash), 'recorded' (chunk already counted), 'cancelled', 'run', or
-- 'replay' (a replayed chunk whose recorded outcome is a dead letter, which the replay replaces).
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end

local recorded = redis.call('HGET', KEYS[2], ARGV[1])
if recorded then
    if ARGV[3] == '1' and string.sub(recorded, -5) == ':dead' then return 'replay' end
    return 'recorded'
end

local status = redis.call('HGET', KEYS[1], 'status')
if status == 'cancelled' then return 'cancelled' end
if status == 'queued' then
    redis.call('HSET', KEYS[1], 'status', 'processing', 'started_at', ARGV[2])
end
return 'run'
