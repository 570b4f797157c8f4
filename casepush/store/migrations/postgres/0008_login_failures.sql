-- Failed logins, counted here so that every instance shares the counts (casepush.security.throttle):
-- `key` is a 16-byte digest (of an account with a client address, or of a client address), `failures`
-- the count in the window that ends at `window_end` (by the database's clock). Rows whose window has
-- passed are deleted as instances count. UNLOGGED: the counts are short-lived, so they are not worth
-- the write-ahead log; a crash of the database empties the table (and physical standbys do not have it).

CREATE UNLOGGED TABLE login_failures (
    key BYTEA PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_end TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_window_end ON login_failures (window_end);
