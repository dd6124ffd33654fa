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

-- Writes (PUT, PATCH, psql, pgAdmin) keep updated_at current and raise version by one, under the
-- row's lock, so versions of one product follow commit order: the cache uses them to ignore
-- invalidations and writes that arrive out of order (see src/cache.c).
ALTER TABLE products ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1;

CREATE OR REPLACE FUNCTION products_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    NEW.version := OLD.version + 1;
    RETURN NEW;
END
$$;
CREATE OR REPLACE TRIGGER products_touch BEFORE UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION products_touch();

-- Every committed change is announced on channel products_changed as "id:version" (a deletion's
-- version is one past the row's last). NOTIFY is delivered at commit, so a listener never hears of a
-- change that could still roll back. cacheme listens and drops the cached product.
CREATE OR REPLACE FUNCTION products_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('products_changed', OLD.id || ':' || (OLD.version + 1));
        RETURN OLD;
    END IF;
    PERFORM pg_notify('products_changed', NEW.id || ':' || NEW.version);
    RETURN NEW;
END
$$;
CREATE OR REPLACE TRIGGER products_notify AFTER INSERT OR UPDATE OR DELETE ON products
    FOR EACH ROW EXECUTE FUNCTION products_notify();
