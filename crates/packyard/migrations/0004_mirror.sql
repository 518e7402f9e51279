-- Packages an admin approved for mirrors in strict mode.
CREATE TABLE mirror_approvals (
    alias TEXT NOT NULL,
    package TEXT NOT NULL,
    approved_at {{bigint}} NOT NULL,
    PRIMARY KEY (alias, package)
);
