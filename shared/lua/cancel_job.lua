-- Marks a queued or processing job cancelled; returns the status it had (false when missing).
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if status == 'queued' or status == 'processing' then
    redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancel_requested_at', ARGV[1])
end
return status
