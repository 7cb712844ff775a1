-- Counts a chunk once (HSETNX on the chunk number), finishes the job after its last chunk,
-- then acknowledges and deletes the stream entry whether or not the chunk was new.
-- Returns {1 if the job finished with this chunk else 0, job status}.
local finished = 0
local status = redis.call('HGET', KEYS[1], 'status')
if status and redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[5] .. ':' .. ARGV[6] .. ':' .. ARGV[7]) == 1 then
    redis.call('HINCRBY', KEYS[1], 'successful_leads', ARGV[5])
    redis.call('HINCRBY', KEYS[1], 'failed_leads', ARGV[6])
    redis.call('HINCRBY', KEYS[1], 'cancelled_leads', ARGV[7])
    redis.call('HINCRBY', KEYS[1], 'superseded_leads', ARGV[8])
    for i = 12, #ARGV, 500 do
        redis.call('RPUSH', KEYS[3], unpack(ARGV, i, math.min(i + 499, #ARGV)))
    end
    local done = redis.call('HINCRBY', KEYS[1], 'chunks_done', 1)
    if done >= tonumber(redis.call('HGET', KEYS[1], 'chunk_count')) then
        local ttl = tonumber(ARGV[10])
        if status == 'cancelled' then
            ttl = tonumber(ARGV[11])
        else
            status = 'completed'
        end
        if redis.call('HEXISTS', KEYS[1], 'started_at') == 0 then
            redis.call('HSET', KEYS[1], 'started_at', ARGV[9])
        end
        redis.call('HSET', KEYS[1], 'status', status, 'completed_at', ARGV[9])
        redis.call('EXPIRE', KEYS[1], ttl)
        redis.call('EXPIRE', KEYS[2], ttl)
        redis.call('EXPIRE', KEYS[3], ttl)
        redis.call('SREM', KEYS[5], ARGV[2])
        finished = 1
    end
end
redis.call('XACK', KEYS[4], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[4], ARGV[4])
return {finished, status or 'missing'}
