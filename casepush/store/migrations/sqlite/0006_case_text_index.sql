-- A trigram index of case titles and descriptions: `_find`'s search terms (substrings, any case) are
-- looked up in it instead of reading every case. An external-content FTS5 table kept in step by
-- triggers; each trigger stands on one line (the migration runner splits statements at line ends).
CREATE VIRTUAL TABLE case_text USING fts5(title, description, content='cases', content_rowid='rowid', tokenize='trigram');
INSERT INTO case_text (case_text) VALUES ('rebuild');
CREATE TRIGGER case_text_insert AFTER INSERT ON cases BEGIN INSERT INTO case_text (rowid, title, description) VALUES (new.rowid, new.title, new.description); END;
CREATE TRIGGER case_text_delete AFTER DELETE ON cases BEGIN INSERT INTO case_text (case_text, rowid, title, description) VALUES ('delete', old.rowid, old.title, old.description); END;
CREATE TRIGGER case_text_update AFTER UPDATE OF title, description ON cases BEGIN INSERT INTO case_text (case_text, rowid, title, description) VALUES ('delete', old.rowid, old.title, old.description); INSERT INTO case_text (rowid, title, description) VALUES (new.rowid, new.title, new.description); END;
