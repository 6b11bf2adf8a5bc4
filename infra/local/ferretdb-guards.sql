-- Make FerretDB 1.24 on PostgreSQL behave like MongoDB where this project depends on it.
-- Applied by infra/local/postgres.sh to the `ferretdb` database at every start (idempotent).
-- Why each part exists: infra/local/README.md, "FerretDB's guards".
--
-- 1. GIN twins. FerretDB creates btree indexes on `(_jsonb -> 'field')` but filters equality
--    with `_jsonb -> 'field' @> value`, which a btree cannot serve: every lookup scanned its
--    table. A GIN (jsonb_path_ops) index on the same expression serves `@>`, so each FerretDB
--    index gets one GIN twin per key, named kap_gin_<index oid>_<key number>, dropped with it.
-- 2. Version guard. FerretDB runs a filtered update as an unlocked SELECT, then an
--    `UPDATE ... WHERE _jsonb -> '_id' = $1` in another statement, so a writer that read a
--    stale version overwrote a newer document. A row trigger on every FerretDB table refuses
--    an update of a document carrying a numeric top-level `version` unless the new document's
--    version is the old one + 1 (SQLSTATE 40001, message starting "kap version guard"). The
--    UPDATE waits for the row lock, re-reads the row, and the loser of a race is refused:
--    compare-and-set on `{_id, version}` becomes atomic, as on MongoDB.

CREATE OR REPLACE FUNCTION kap_twin_expression(index_oid oid, key_number int)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  definition text := pg_get_indexdef(index_oid, key_number, true);
  keys text[];
BEGIN
  -- FerretDB's key expressions: (_jsonb -> 'a'::text) or ((_jsonb -> 'a'::text) -> 'b'::text)
  IF definition !~ '^\(*_jsonb -> ''' THEN
    RETURN NULL;
  END IF;
  SELECT array_agg(replace(m[1], '''''', '''')) INTO keys
    FROM regexp_matches(definition, '''((?:[^'']|'''')*)''::text', 'g') AS m;
  IF keys IS NULL THEN
    RETURN NULL;
  END IF;
  IF cardinality(keys) = 1 THEN
    -- top-level fields: FerretDB queries `_jsonb -> 'a' @> value`
    RETURN format('(_jsonb -> %L)', keys[1]);
  END IF;
  -- dotted fields: FerretDB queries `_jsonb #> '{a,b}' @> value`
  RETURN format('(_jsonb #> %L::text[])', keys::text);
END $$;

CREATE OR REPLACE FUNCTION kap_add_gin_twins(index_oid oid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  ix record;
  expression text;
BEGIN
  SELECT i.indrelid::regclass AS tbl, i.indnatts AS keys, c.relname AS name, am.amname
    INTO ix
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_am am ON am.oid = c.relam
   WHERE i.indexrelid = index_oid;
  IF NOT FOUND OR ix.amname <> 'btree' OR ix.name LIKE 'kap\_gin\_%' THEN
    RETURN;
  END IF;
  FOR k IN 1..ix.keys LOOP
    expression := kap_twin_expression(index_oid, k);
    IF expression IS NOT NULL THEN
      EXECUTE format(
        'CREATE INDEX IF NOT EXISTS %I ON %s USING gin (%s jsonb_path_ops)',
        format('kap_gin_%s_%s', index_oid, k), ix.tbl, expression
      );
    END IF;
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION kap_version_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF jsonb_typeof(OLD._jsonb -> 'version') = 'number'
     AND (jsonb_typeof(NEW._jsonb -> 'version') IS DISTINCT FROM 'number'
          OR (NEW._jsonb ->> 'version')::numeric <> (OLD._jsonb ->> 'version')::numeric + 1)
  THEN
    RAISE EXCEPTION 'kap version guard: stale write of a versioned document refused'
      USING ERRCODE = '40001',
            DETAIL = format('%s: version %s may only become %s, not %s', TG_TABLE_NAME,
                            OLD._jsonb -> 'version', (OLD._jsonb ->> 'version')::numeric + 1,
                            coalesce(NEW._jsonb -> 'version', 'null'::jsonb));
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION kap_add_version_guard(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                  WHERE attrelid = tbl AND attname = '_jsonb' AND NOT attisdropped)
     OR (SELECT relname FROM pg_class WHERE oid = tbl) LIKE '\_ferretdb\_%'
     OR EXISTS (SELECT 1 FROM pg_trigger
                 WHERE tgrelid = tbl AND tgname = 'kap_version_guard')
  THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE TRIGGER kap_version_guard BEFORE UPDATE ON %s '
                 'FOR EACH ROW EXECUTE FUNCTION kap_version_guard()', tbl);
END $$;

CREATE OR REPLACE FUNCTION kap_on_ddl() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  cmd record;
BEGIN
  FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
    IF cmd.command_tag = 'CREATE INDEX' AND cmd.object_type = 'index' THEN
      PERFORM kap_add_gin_twins(cmd.objid);
    ELSIF cmd.command_tag = 'CREATE TABLE' AND cmd.object_type = 'table' THEN
      PERFORM kap_add_version_guard(cmd.objid::regclass);
    END IF;
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION kap_on_drop() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  dropped record;
  twin record;
BEGIN
  FOR dropped IN SELECT * FROM pg_event_trigger_dropped_objects()
                  WHERE object_type = 'index' AND original LOOP
    FOR twin IN SELECT n.nspname, c.relname FROM pg_class c
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind = 'i' AND c.relname LIKE format('kap\_gin\_%s\_%%', dropped.objid)
    LOOP
      EXECUTE format('DROP INDEX IF EXISTS %I.%I', twin.nspname, twin.relname);
    END LOOP;
  END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS kap_on_ddl;
CREATE EVENT TRIGGER kap_on_ddl ON ddl_command_end
  WHEN TAG IN ('CREATE INDEX', 'CREATE TABLE')
  EXECUTE FUNCTION kap_on_ddl();

DROP EVENT TRIGGER IF EXISTS kap_on_drop;
CREATE EVENT TRIGGER kap_on_drop ON sql_drop
  WHEN TAG IN ('DROP INDEX')
  EXECUTE FUNCTION kap_on_drop();

-- Tables and indexes FerretDB created before these triggers existed get the same treatment.
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  LOOP
    PERFORM kap_add_version_guard(t.oid::regclass);
  END LOOP;
  FOR t IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'i' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND c.relname NOT LIKE 'kap\_gin\_%'
  LOOP
    PERFORM kap_add_gin_twins(t.oid);
  END LOOP;
END $$;
