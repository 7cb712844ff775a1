-- Cancels a queued or processing job. The leads of chunks that no worker has started are counted
-- as cancelled at once. With no chunk in flight the job finishes now. Otherwise the record of its
-- last chunk in flight finishes it (record_chunk.lua), so a job reads `cancelled` only with its
-- final counts. A second cancel while chunks are in flight changes nothing.
-- KEYS: job hash, chunks hash, failures list, user's pending set, expiring jobs index,
--       unsummarised jobs (sorted by finish time).
-- ARGV: now, ttl cancelled, user id, job id.
-- Returns the status the job had, false when it does not exist. Needs end_job.lua.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if status ~= 'queued' and status ~= 'processing' then return status end
if redis.call('HEXISTS', KEYS[1], 'cancel_requested_at') == 1 then return status end

local function count(field)
    return tonumber(redis.call('HGET', KEYS[1], field) or '0')
end

local unstarted = count('total_leads') - count('leads_started')
redis.call('HSET', KEYS[1], 'cancel_requested_at', ARGV[1], 'cancelled_leads', unstarted)
if count('chunks_done') < count('chunks_started') then return status end

-- A job that no worker started keeps started_at null.
end_job(KEYS, ARGV[4], ARGV[3], 'cancelled', ARGV[1], tonumber(ARGV[2]))
return status
