-- Named tokens with scopes and an expiry, and when and from where each was last used
-- (written in batches, not on every request).
ALTER TABLE api_tokens ADD COLUMN name TEXT NOT NULL DEFAULT 'default';
-- JSON list of scope names; NULL grants every scope (the tokens users had before).
ALTER TABLE api_tokens ADD COLUMN scopes TEXT;
ALTER TABLE api_tokens ADD COLUMN expires_at {{bigint}};
ALTER TABLE api_tokens ADD COLUMN last_used_at {{bigint}};
ALTER TABLE api_tokens ADD COLUMN last_used_from TEXT;
CREATE UNIQUE INDEX api_tokens_user_name ON api_tokens(user_id, name);
