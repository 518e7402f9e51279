-- Users and groups limited to some sub-repositories: a JSON array of slugs, `root`
-- standing for the root repository; NULL (the default) limits nothing. A limited
-- user is refused elsewhere as if nothing were there; a limited group's grants count
-- only through the sub-repositories it names.
ALTER TABLE users ADD COLUMN subrepos TEXT;
ALTER TABLE groups ADD COLUMN subrepos TEXT;
