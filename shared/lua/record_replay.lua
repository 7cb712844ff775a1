-- Replaces the dead-letter outcome of a chunk with the outcome of its replay, once: moves its
-- leads from failed to their real result and swaps their 'dead_letter' failure entries.
-- KEYS: job hash, chunks hash, failures list, stream, unsummarised jobs (sorted by time).
-- ARGV: chunk, job id, group, entry id, successful, failed, superseded, now, lead count n,
--       the chunk's n lead ids, then 'lead:code' failures.
-- Returns {1 if the outcome was replaced else 0, job status}.
local replaced = 0
local status = redis.call('HGET', KEYS[1], 'status')
local recorded = redis.call('HGET', KEYS[2], ARGV[1])

if status and recorded and string.sub(recorded, -5) == ':dead' then
    local previous_failed = tonumber(string.match(recorded, '^%d+:(%d+)'))
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[5] .. ':' .. ARGV[6])
    redis.call('HINCRBY', KEYS[1], 'successful_leads', ARGV[5])
    redis.call('HINCRBY', KEYS[1], 'failed_leads', tonumber(ARGV[6]) - previous_failed)
    redis.call('HINCRBY', KEYS[1], 'superseded_leads', ARGV[7])

    local lead_count = tonumber(ARGV[9])
    for i = 10, 9 + lead_count do
        redis.call('LREM', KEYS[3], 0, ARGV[i] .. ':dead_letter')
    end
    for i = 10 + lead_count, #ARGV, 500 do
        redis.call('RPUSH', KEYS[3], unpack(ARGV, i, math.min(i + 499, #ARGV)))
    end

    -- A finished job keeps its retention, and the failures list above may be a new key.
    local ttl = redis.call('TTL', KEYS[1])
    if ttl > 0 then
        redis.call('EXPIRE', KEYS[2], ttl)
        redis.call('EXPIRE', KEYS[3], ttl)
        redis.call('ZADD', KEYS[5], ARGV[8], ARGV[2])
    end
    replaced = 1
end

redis.pcall('XACK', KEYS[4], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[4], ARGV[4])
return {replaced, status or 'missing'}
