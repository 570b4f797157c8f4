-- Every `_find` sort served by an index, so that a page is read in order instead of sorting every
-- match. Nullable fields sort NULLs last in both directions ("(field IS NULL)" first, see
-- store/rows.py's order_by): one index per direction. Tag filters read case ids from the index alone, and
-- counting the tagged cases by status reads (id, space, owner, status) without the cases' documents.
-- The trigram index is rewritten only when a title or description changes, not on every update.
CREATE INDEX cases_sort_updated_asc ON cases (space_id, (updated_at IS NULL), updated_at, created_at, id);
CREATE INDEX cases_sort_updated_desc ON cases (space_id, (updated_at IS NULL), updated_at DESC, created_at DESC, id DESC);
CREATE INDEX cases_sort_closed_asc ON cases (space_id, (closed_at IS NULL), closed_at, created_at, id);
CREATE INDEX cases_sort_closed_desc ON cases (space_id, (closed_at IS NULL), closed_at DESC, created_at DESC, id DESC);
CREATE INDEX cases_sort_category_asc ON cases (space_id, (category IS NULL), category, created_at, id);
CREATE INDEX cases_sort_category_desc ON cases (space_id, (category IS NULL), category DESC, created_at DESC, id DESC);
CREATE INDEX cases_sort_title ON cases (space_id, title, created_at, id);
CREATE INDEX cases_sort_status ON cases (space_id, status, created_at, id);
CREATE INDEX cases_sort_severity ON cases (space_id, severity, created_at, id);
CREATE INDEX case_tags_tag_case ON case_tags (tag, case_id);
CREATE INDEX cases_id_counted ON cases (id, space_id, owner, status);
DROP INDEX case_tags_tag;
DROP TRIGGER case_text_update;
CREATE TRIGGER case_text_update AFTER UPDATE OF title, description ON cases WHEN old.title IS NOT new.title OR old.description IS NOT new.description BEGIN INSERT INTO case_text (case_text, rowid, title, description) VALUES ('delete', old.rowid, old.title, old.description); INSERT INTO case_text (rowid, title, description) VALUES (new.rowid, new.title, new.description); END;
