-- One row once every value sealed unbound by an earlier version (v1:, v2:) that the
-- secret opens has been bound to its row (v3:); from then on unbound values open
-- nowhere, so one copied in from a backup or another row is useless.
CREATE TABLE sealed_values_bound (
    id {{bigint}} PRIMARY KEY,
    bound_at BIGINT NOT NULL
);
-- The login attempt a failure row was recorded for: recorded before the password is
-- checked (so parallel guesses count each other) and withdrawn when it was right.
ALTER TABLE login_failures ADD COLUMN attempt TEXT;
