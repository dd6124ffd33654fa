-- Schema of the cacheme database. Idempotent: `cacheme migrate` runs it at every start.
-- Plain SQL only (no psql meta-commands): the binary embeds this file and sends it as one
-- multi-statement query.

-- Concurrent migrations (several service processes starting at once) would race on CREATE TABLE;
-- this lock, held until the end of the migration's transaction, makes them take turns.
DO $$ BEGIN PERFORM pg_advisory_xact_lock(hashtext('cacheme.migrate')); END $$;

-- "already exists, skipping" notices on every later run are noise in the service's log.
SET LOCAL client_min_messages = warning;

CREATE TABLE IF NOT EXISTS products (
    id          serial PRIMARY KEY,
    name        varchar(255) NOT NULL,
    description text,
    price       numeric(10, 2) NOT NULL,
    category    varchar(100),
    created_at  timestamptz DEFAULT now(),
    updated_at  timestamptz DEFAULT now()
);

CREATE INDEX IF NOT EXISTS products_category_idx ON products (category);
