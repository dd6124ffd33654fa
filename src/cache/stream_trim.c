/*
 * stream_trim — see stream_trim.h.
 */
#include "cache/stream_trim.h"

#include <string.h>

/*
 * KEYS: the stream. ARGV: group, "1" to trim (else "0"), the most entries to read on each side of
 * the group's last delivered entry when counting its lag. Answers {pending, lag, trimmed, length}
 * of the group, or an error when the stream (XINFO: no such key) or the group does not exist.
 *
 * Ids are compared as two decimal numbers, by length and then by text, since their parts go up to
 * 2^64-1 and Lua's numbers are doubles. The bound of a group with nothing pending is the id right
 * after its last delivered one, so that a drained queue is trimmed to nothing; when that id's
 * sequence is too long to add one to exactly, the bound is the last delivered id itself, which
 * keeps that one entry: still safe.
 */
static const char TRIM_SCRIPT[] =
    "local function split(id)\n"
    "  local ms, seq = string.match(id, '^(%d+)%-(%d+)$')\n"
    "  return ms, seq\n"
    "end\n"
    "local function num_less(a, b)\n"
    "  if #a ~= #b then return #a < #b end\n"
    "  return a < b\n"
    "end\n"
    "local function id_less(a, b)\n"
    "  local ams, aseq = split(a)\n"
    "  local bms, bseq = split(b)\n"
    "  if ams ~= bms then return num_less(ams, bms) end\n"
    "  return num_less(aseq, bseq)\n"
    "end\n"
    "local function next_id(id)\n"
    "  local ms, seq = split(id)\n"
    "  if #seq > 12 then return id end\n"
    "  return ms .. '-' .. string.format('%d', tonumber(seq) + 1)\n"
    "end\n"
    "local bound, mine = nil, nil\n"
    "for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do\n"
    "  local f = {}\n"
    "  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end\n"
    "  local b\n"
    "  if f['pending'] > 0 then\n"
    "    b = redis.call('XPENDING', KEYS[1], f['name'])[2]\n"
    "  else\n"
    "    b = next_id(f['last-delivered-id'])\n"
    "  end\n"
    "  if bound == nil or id_less(b, bound) then bound = b end\n"
    "  if f['name'] == ARGV[1] then mine = f end\n"
    "end\n"
    "if mine == nil then return redis.error_reply('NOGROUP no such consumer group') end\n"
    "local trimmed = 0\n"
    "if ARGV[2] == '1' then trimmed = redis.call('XTRIM', KEYS[1], 'MINID', bound) end\n"
    "local len = redis.call('XLEN', KEYS[1])\n"
    "local lag = mine['lag']\n"
    "if type(lag) ~= 'number' then\n"
    "  local last, max = mine['last-delivered-id'], tonumber(ARGV[3])\n"
    "  local upto = #redis.call('XRANGE', KEYS[1], '-', last, 'COUNT', max)\n"
    "  lag = len - upto\n"
    "  if upto >= max then\n"
    "    local after = #redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', max)\n"
    "    if after < max then lag = after end\n"
    "  end\n"
    "end\n"
    "return {mine['pending'], lag, trimmed, len}\n";

#define STR_(x) #x
#define STR(x) STR_(x)

void stream_trim_command(const char *stream, const char *group, int trim,
                         const char *argv[STREAM_TRIM_ARGC], size_t argvlen[STREAM_TRIM_ARGC])
{
    static const char count_max[] = STR(STREAM_TRIM_COUNT_MAX);
    argv[0] = "EVAL";
    argv[1] = TRIM_SCRIPT;
    argv[2] = "1";
    argv[3] = stream;
    argv[4] = group;
    argv[5] = trim ? "1" : "0";
    argv[6] = count_max;
    for (int i = 0; i < STREAM_TRIM_ARGC; i++)
        argvlen[i] = strlen(argv[i]);
}

int stream_trim_parse(const redisReply *reply, stream_trim_figures_t *out)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4)
        return -1;
    long long v[4];
    for (size_t i = 0; i < 4; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER)
            return -1;
        v[i] = reply->element[i]->integer;
    }
    out->pending = v[0];
    out->lag = v[1];
    out->trimmed = v[2];
    out->length = v[3];
    return 0;
}
