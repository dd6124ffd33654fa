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
-- invalidations and writes that arrive out of order (see src/cache/cache.c).
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
    IF current_setting('cacheme.origin', true) = 'write-behind' THEN
        RETURN NULL; -- See cacheme_apply_write below.
    END IF;
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

-- Write-behind (CACHE_WRITE_MODE=write-behind): writes are queued in a Redis Stream and applied
-- here later, in stream order. Each applied entry leaves a row, in the same transaction as the
-- change itself, so an entry delivered twice (after a crash between applying and acknowledging it)
-- is applied once. seq records the order in which entries were applied.
CREATE TABLE IF NOT EXISTS applied_writes (
    stream_id  text PRIMARY KEY,
    product_id integer NOT NULL,
    op         text NOT NULL,
    seq        bigserial,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- Applies one queued write: the full new state of the product (an update) or its deletion. Returns
-- false when the entry had been applied before. The change is marked as coming from the
-- write-behind queue so that products_notify does not announce it: the cache already holds this
-- state, or a newer one still in the queue, which a notification would wrongly drop.
CREATE OR REPLACE FUNCTION cacheme_apply_write(p_stream_id text, p_id integer, p_op text,
    p_name text, p_description text, p_price numeric, p_category text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO applied_writes (stream_id, product_id, op) VALUES (p_stream_id, p_id, p_op)
        ON CONFLICT (stream_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM set_config('cacheme.origin', 'write-behind', true);
    IF p_op = 'delete' THEN
        DELETE FROM products WHERE id = p_id;
    ELSE
        UPDATE products SET name = p_name, description = p_description, price = p_price,
            category = p_category WHERE id = p_id;
    END IF;
    RETURN true;
END
$$;
