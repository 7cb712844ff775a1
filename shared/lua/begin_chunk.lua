-- Returns 'missing' (no job hash), 'recorded' (chunk already counted), 'cancelled' or 'run'.
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'recorded' end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'cancelled' then return 'cancelled' end
if status == 'queued' then
    redis.call('HSET', KEYS[1], 'status', 'processing', 'started_at', ARGV[2])
end
return 'run'
