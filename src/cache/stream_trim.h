/*
 * stream_trim — the figures of a consumer group reading a Redis Stream, and the trimming of the
 * entries every group of the stream has acknowledged.
 *
 * The write-behind queue (write_behind.c) is a stream read by one group; XACK marks an entry done
 * but leaves it in the stream, so without trimming the stream grows with every write. A plain
 * MAXLEN would drop entries no one has read yet, or entries delivered and not yet applied. The safe
 * bound is computed per group: the smallest id still pending (XPENDING), or, when nothing is
 * pending, the id just after the last one delivered (XINFO GROUPS) — every entry below it has been
 * delivered and acknowledged. The stream is trimmed with XTRIM MINID to the smallest bound over all
 * of its groups, so that another group reading the same stream (an operator's audit reader, say)
 * loses nothing it has not acknowledged either.
 *
 * One Lua script reads the groups, computes the bound, trims and reads the figures. Redis runs it
 * atomically, so no entry is added, delivered or acknowledged between the reading and the trimming;
 * the bound would be safe even if that could happen, since a new entry has a larger id than any
 * before it and a newly delivered one stays pending until it is acknowledged. The script never
 * runs XDEL, which would leave a tombstone that makes Redis unable to report the groups' lag.
 *
 * The lag (entries not yet delivered to the group) is XINFO GROUPS' `lag` when Redis can tell it.
 * Redis 7.0 reports it as nil when an entry after the group's last delivered one was removed with
 * XDEL, or when the group's read counter is unknown (a group older than Redis 7); the script then
 * counts the entries after the last delivered one itself (XLEN minus the entries up to it, which
 * trimming keeps few, or the entries after it, whichever is fewer than STREAM_TRIM_COUNT_MAX).
 * Trimming with MINID alone leaves the counter valid: measured on Redis 7.0.15.
 */
#ifndef CACHEME_STREAM_TRIM_H
#define CACHEME_STREAM_TRIM_H

#include <hiredis/hiredis.h>
#include <stddef.h>

/* Arguments of the command stream_trim_command builds. */
#define STREAM_TRIM_ARGC 7

/*
 * The most entries the script reads (XRANGE) on each side of the group's last delivered entry to
 * count its lag when Redis does not report it; past that on both sides the lag is an upper bound.
 */
#define STREAM_TRIM_COUNT_MAX 1000

/* The script's answer. A plain value; the caller owns it. */
typedef struct {
    long long pending; /* The group's entries delivered and not acknowledged. */
    long long lag;     /* The group's entries not yet delivered. */
    long long trimmed; /* Entries this call removed from the stream (0 when not asked to trim). */
    long long length;  /* Entries left in the stream (XLEN), after the trimming. */
} stream_trim_figures_t;

/*
 * Fills argv/argvlen with the command (an EVAL) that reads group's figures of stream and, when trim
 * is non-zero, first removes every entry that all of the stream's groups have acknowledged. The
 * strings point to stream, group and static text: keep stream and group until the command is sent.
 * If the stream or group does not exist, the command answers an error (nothing is trimmed: without
 * the group there is no telling what it has read). Thread-safe.
 */
void stream_trim_command(const char *stream, const char *group, int trim,
                         const char *argv[STREAM_TRIM_ARGC], size_t argvlen[STREAM_TRIM_ARGC]);

/*
 * Decodes the command's reply into *out. Returns 0, or -1 for an error reply or a reply that is
 * not the script's (out is then untouched). Thread-safe.
 */
int stream_trim_parse(const redisReply *reply, stream_trim_figures_t *out);

#endif
