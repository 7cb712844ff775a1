-- Moves a dead letter back to the job stream as a replay, in one step so it is neither lost
-- nor replayed twice. KEYS: dead-letter stream, job stream, the job's hash. ARGV: dead entry id.
-- Returns the new entry id, or 'missing_entry' / 'missing_job'.
local entry = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #entry == 0 then return 'missing_entry' end
if redis.call('EXISTS', KEYS[3]) == 0 then return 'missing_job' end

local DEAD_LETTER_FIELDS = {origin_id = true, deliveries = true, dead_at = true, replay = true}
local source = entry[1][2]
local fields = {}
for i = 1, #source, 2 do
    if not DEAD_LETTER_FIELDS[source[i]] then
        table.insert(fields, source[i])
        table.insert(fields, source[i + 1])
    end
end
table.insert(fields, 'replay')
table.insert(fields, '1')

local new_id = redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('XDEL', KEYS[1], ARGV[1])
return new_id
