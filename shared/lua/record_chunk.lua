-- Counts a chunk's outcome once (HSETNX on its number), finishes the job after its last chunk
-- (for a cancelled job, its last chunk in flight), then acknowledges and deletes the stream entry
-- whether or not the outcome was new.
-- A dead-lettered chunk (flag '1') is first copied to the dead-letter stream, and its outcome
-- is marked ':dead' so that an operator's replay can replace it.
-- KEYS: job hash, chunks hash, failures list, stream, user's pending set, dead-letter stream,
--       expiring jobs index, unsummarised jobs (sorted by finish time).
-- ARGV: chunk, job id, group, entry id, successful, failed, superseded, now, ttl completed,
--       ttl cancelled, user id, dead-letter flag, deliveries, then 'lead:code' failures.
-- Returns {1 if the job finished with this chunk else 0, job status}. Needs end_job.lua.
local FIRST_FAILURE = 14
local finished = 0
local dead = ARGV[12] == '1'
local status = redis.call('HGET', KEYS[1], 'status')
local cancelling = redis.call('HEXISTS', KEYS[1], 'cancel_requested_at') == 1

local outcome = ARGV[5] .. ':' .. ARGV[6]
if dead then outcome = outcome .. ':dead' end

local function copy_to_dead_letters()
    local entry = redis.call('XRANGE', KEYS[4], ARGV[4], ARGV[4])
    if #entry == 0 then return end
    local fields = entry[1][2]
    for _, value in ipairs({'origin_id', ARGV[4], 'deliveries', ARGV[13], 'dead_at', ARGV[8]}) do
        table.insert(fields, value)
    end
    redis.call('XADD', KEYS[6], '*', unpack(fields))
end

local function finish_job()
    local ttl = tonumber(ARGV[9])
    status = 'completed'
    if cancelling then
        status = 'cancelled'
        ttl = tonumber(ARGV[10])
    end
    if redis.call('HEXISTS', KEYS[1], 'started_at') == 0 then
        redis.call('HSET', KEYS[1], 'started_at', ARGV[8])
    end
    local job_keys = {KEYS[1], KEYS[2], KEYS[3], KEYS[5], KEYS[7], KEYS[8]}
    end_job(job_keys, ARGV[2], ARGV[11], status, ARGV[8], ttl)
    finished = 1
end

if status then
    local fresh = redis.call('HSETNX', KEYS[2], ARGV[1], outcome) == 1
    if dead and (fresh or string.sub(redis.call('HGET', KEYS[2], ARGV[1]), -5) == ':dead') then
        copy_to_dead_letters()
    end
    if fresh then
        redis.call('HINCRBY', KEYS[1], 'successful_leads', ARGV[5])
        redis.call('HINCRBY', KEYS[1], 'failed_leads', ARGV[6])
        redis.call('HINCRBY', KEYS[1], 'superseded_leads', ARGV[7])
        for i = FIRST_FAILURE, #ARGV, 500 do
            redis.call('RPUSH', KEYS[3], unpack(ARGV, i, math.min(i + 499, #ARGV)))
        end
        local done = redis.call('HINCRBY', KEYS[1], 'chunks_done', 1)
        local last_field = cancelling and 'chunks_started' or 'chunk_count'
        local last = tonumber(redis.call('HGET', KEYS[1], last_field) or '0')
        if (status == 'queued' or status == 'processing') and done >= last then
            finish_job()
        end
    end
end

-- pcall: a group lost meanwhile must not undo the counting above or keep the entry.
redis.pcall('XACK', KEYS[4], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[4], ARGV[4])
return {finished, status or 'missing'}
