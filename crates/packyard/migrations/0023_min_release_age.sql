-- Minimum release age (a cooldown, in milliseconds): versions packyard published more
-- recently are not offered to the user, the group's grants, or the token.
ALTER TABLE users ADD COLUMN min_release_age {{bigint}};
ALTER TABLE groups ADD COLUMN min_release_age {{bigint}};
ALTER TABLE api_tokens ADD COLUMN min_release_age {{bigint}};
