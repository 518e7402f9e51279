-- Packages an admin approved for mirrors in strict mode.
CREATE TABLE mirror_approvals (
    alias TEXT NOT NULL,
    package TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (alias, package)
);
