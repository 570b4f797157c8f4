-- Trigram indexes of case titles and descriptions, so that `_find`'s ILIKE '%term%' searches use an
-- index instead of reading every case. pg_trgm ships with PostgreSQL and is a trusted extension (the
-- database owner may create it), installed in `public` so that every schema's deployment finds it; where
-- it cannot be, searches still work, by reading the cases.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
    EXECUTE 'CREATE INDEX cases_title_trgm ON cases USING gin (title public.gin_trgm_ops)';
    EXECUTE 'CREATE INDEX cases_description_trgm ON cases USING gin (description public.gin_trgm_ops)';
EXCEPTION WHEN insufficient_privilege OR undefined_file OR undefined_object OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm is not available: case searches read every case';
END
$$;
