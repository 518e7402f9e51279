-- When packyard first published each version (packagist.org's `published-time`): set
-- by the database at the first write, kept for tags, moved for branches with each
-- new commit. Versions written before this step get their last write's time, the best
-- known.
ALTER TABLE versions ADD COLUMN published_at {{bigint}};
UPDATE versions SET published_at = updated_at;
