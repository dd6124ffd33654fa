/*
 * migrate — creates the schema and loads the seed data (db/schema.sql, db/seed.sql, compiled into
 * the program). Both scripts are idempotent, so running it again changes nothing.
 *
 * Blocking: it is a command of its own (cacheme migrate), never run on an event loop.
 */
#ifndef CACHEME_MIGRATE_H
#define CACHEME_MIGRATE_H

#include "core/config.h"

/* Applies schema then seed to cfg->database_url. Returns 0, or -1 after logging the reason. */
int migrate_run(const config_t *cfg);

#endif
