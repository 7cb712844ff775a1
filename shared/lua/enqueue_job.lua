-- Enqueues a bulk job in one atomic step: an Idempotency-Key replay first, then the user's rate
-- limits, then the job hash, its stream entries, the indexes, the counters and the key.
-- A replayed or rejected request writes nothing, apart from dropping finished jobs from the
-- user's pending set.
--
-- KEYS: 1 stream, 2 request sequence, 3 job hash, 4 user's jobs, 5 all jobs, 6 user's pending
--       jobs, 7 idempotency key (unused without one), 8 user's usage today, 9 user's cooldown.
-- ARGV: 1 job id, 2 user id, 3 admin flag (0/1), 4 estado, 5 observaciones, 6 history text,
--       7 total leads, 8 created at (unix seconds), 9 duplicates removed,
--       10 request digest ('' without an idempotency key), 11 response record, 12 key ttl (s),
--       13 pending jobs limit, 14 jobs per day limit, 15 leads per day limit, 16 cooldown (s),
--       17 seconds until the day ends, 18 retry hint for the pending limit (s),
--       19 job hash prefix, 20.. the chunks (comma-separated lead ids).
-- Stream entry fields: job id, chunk number, request sequence number, actor, admin flag,
-- canonical estado, history text and the chunk's lead ids.
-- Returns {'accepted', seq} | {'replayed', job id, record} | {'conflict', job id}
--       | {'limited', limit name, limit value, retry after (s)}. A limit of 0 is off.
-- NOTE: the pending check reads the hashes of the pending jobs, which are not in KEYS; standalone
-- Redis allows it, Redis Cluster would need them in one hash slot.
local FIRST_CHUNK = 20
local job_id, user_id = ARGV[1], ARGV[2]
local total_leads = tonumber(ARGV[7])
local with_key = ARGV[10] ~= ''

local function active_pending_jobs()
    local count = 0
    for _, pending_id in ipairs(redis.call('SMEMBERS', KEYS[6])) do
        local status = redis.call('HGET', ARGV[19] .. pending_id, 'status')
        if status == 'queued' or status == 'processing' then
            count = count + 1
        else
            redis.call('SREM', KEYS[6], pending_id)
        end
    end
    return count
end

local function exceeded_limit()
    local pending_limit = tonumber(ARGV[13])
    if pending_limit > 0 and active_pending_jobs() >= pending_limit then
        return {'limited', 'pending_jobs', pending_limit, tonumber(ARGV[18])}
    end

    local usage = redis.call('HMGET', KEYS[8], 'jobs', 'leads')
    local day_left = tonumber(ARGV[17])
    local jobs_limit = tonumber(ARGV[14])
    if jobs_limit > 0 and (tonumber(usage[1]) or 0) + 1 > jobs_limit then
        return {'limited', 'jobs_per_day', jobs_limit, day_left}
    end
    local leads_limit = tonumber(ARGV[15])
    if leads_limit > 0 and (tonumber(usage[2]) or 0) + total_leads > leads_limit then
        return {'limited', 'leads_per_day', leads_limit, day_left}
    end

    local cooldown_ms = redis.call('PTTL', KEYS[9])
    if tonumber(ARGV[16]) > 0 and cooldown_ms > 0 then
        return {'limited', 'cooldown', tonumber(ARGV[16]), math.ceil(cooldown_ms / 1000)}
    end
    return nil
end

if with_key then
    local first = redis.call('HMGET', KEYS[7], 'job_id', 'digest', 'record')
    if first[1] then
        if first[2] == ARGV[10] then return {'replayed', first[1], first[3]} end
        return {'conflict', first[1]}
    end
end

local rejection = exceeded_limit()
if rejection then return rejection end

local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[3],
    'job_id', job_id, 'user_id', user_id, 'is_admin', ARGV[3], 'estado', ARGV[4],
    'observaciones', ARGV[5], 'total_leads', total_leads, 'created_at', ARGV[8],
    'duplicates_removed', ARGV[9], 'status', 'queued', 'request_seq', seq,
    'chunk_count', #ARGV - FIRST_CHUNK + 1, 'chunks_done', 0, 'successful_leads', 0,
    'failed_leads', 0, 'cancelled_leads', 0, 'superseded_leads', 0)
for i = FIRST_CHUNK, #ARGV do
    redis.call('XADD', KEYS[1], '*', 'job', job_id, 'chunk', i - FIRST_CHUNK, 'seq', seq,
        'user', user_id, 'admin', ARGV[3], 'estado', ARGV[4], 'obs', ARGV[6], 'ids', ARGV[i])
end

local score = math.floor(tonumber(ARGV[8]) * 1000)
redis.call('ZADD', KEYS[4], score, job_id)
redis.call('ZADD', KEYS[5], score, job_id)
redis.call('SADD', KEYS[6], job_id)

redis.call('HINCRBY', KEYS[8], 'jobs', 1)
redis.call('HINCRBY', KEYS[8], 'leads', total_leads)
redis.call('EXPIRE', KEYS[8], tonumber(ARGV[17]) + 60)
if tonumber(ARGV[16]) > 0 then
    redis.call('SET', KEYS[9], job_id, 'EX', tonumber(ARGV[16]))
end

if with_key then
    redis.call('HSET', KEYS[7], 'job_id', job_id, 'digest', ARGV[10], 'record', ARGV[11])
    redis.call('EXPIRE', KEYS[7], tonumber(ARGV[12]))
end
return {'accepted', seq}
