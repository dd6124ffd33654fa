/*
 * version — the release of cacheme, the one thing the service (src/) and its load generator
 * (tools/bench/) share at build time.
 *
 * It lives in include/, outside both programs' folders, so that each can see it without seeing the
 * other's headers: the bench compiles with -Itools/bench -Iinclude and cannot include a module of
 * the service by mistake.
 */
#ifndef CACHEME_VERSION_H
#define CACHEME_VERSION_H

/* Printed by `cacheme --version`, sent as the bench's User-Agent, and put in its reports. */
#define CACHEME_VERSION "0.1.0"

#endif
