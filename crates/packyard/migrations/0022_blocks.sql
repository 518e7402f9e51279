-- Block lists: versions of a package (a Composer constraint; `*` for all) that nobody
-- may install, with the reason and the category, which is the Composer `filter` list
-- the block is published in. A block on a package moves the package's stamp in the
-- same transaction, so every replica re-renders its metadata.
CREATE TABLE blocks (
    id {{id}},
    package TEXT NOT NULL,
    versions TEXT NOT NULL,
    category TEXT NOT NULL,
    reason TEXT NOT NULL,
    url TEXT,
    created_by TEXT NOT NULL,
    created_at {{bigint}} NOT NULL
);
CREATE INDEX blocks_package ON blocks(package);

-- How a category's blocked versions are treated in metadata: withdrawn (the default,
-- when a category has no row) or only flagged in the `filter` lists. Their archives
-- answer 410 either way.
CREATE TABLE block_categories (
    category TEXT PRIMARY KEY,
    withdraw {{bigint}} NOT NULL
);
