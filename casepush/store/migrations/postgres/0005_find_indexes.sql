-- Indexes for `_find` at scale: status counts read (space, owner, status) alone; the default order
-- (creation time, then id) is read from an index rather than sorted, whatever owners are asked for.
DROP INDEX cases_space_status;
CREATE INDEX cases_space_owner_status ON cases (space_id, owner, status);
CREATE INDEX cases_space_created ON cases (space_id, created_at, id);
CREATE INDEX case_assignees_uid_case ON case_assignees (uid, case_id);
DROP INDEX case_assignees_uid;
