-- Stream entry fields: job id, chunk number, request sequence number, actor, admin flag (0/1),
-- canonical estado, history text and the comma-separated lead ids.
local seq = redis.call('INCR', KEYS[2])
local chunk_count = #ARGV - 10
redis.call('HSET', KEYS[3],
    'job_id', ARGV[1], 'user_id', ARGV[2], 'is_admin', ARGV[3], 'estado', ARGV[4],
    'observaciones', ARGV[5], 'total_leads', ARGV[7], 'created_at', ARGV[8],
    'duplicates_removed', ARGV[9], 'status', 'queued', 'request_seq', seq,
    'chunk_count', chunk_count, 'chunks_done', 0, 'successful_leads', 0, 'failed_leads', 0,
    'cancelled_leads', 0, 'superseded_leads', 0)
for i = 11, #ARGV do
    redis.call('XADD', KEYS[1], '*', 'job', ARGV[1], 'chunk', i - 11, 'seq', seq,
        'user', ARGV[2], 'admin', ARGV[3], 'estado', ARGV[4], 'obs', ARGV[6], 'ids', ARGV[i])
end
local score = math.floor(tonumber(ARGV[8]) * 1000)
redis.call('ZADD', KEYS[4], score, ARGV[1])
redis.call('ZADD', KEYS[5], score, ARGV[1])
redis.call('SADD', KEYS[6], ARGV[1])
return seq
