-- Reads a job hash and its first failures in one round trip.
-- KEYS[1] job hash, KEYS[2] failures list; ARGV[1] how many failures to return (0 for none).
-- Returns {} when the job does not exist, else {flat hash fields, failure entries}.
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return {} end
local limit = tonumber(ARGV[1])
local failures = {}
if limit > 0 then
    failures = redis.call('LRANGE', KEYS[2], 0, limit - 1)
end
return {fields, failures}
