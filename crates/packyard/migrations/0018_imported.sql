-- What `packyard import` created, by kind and name: a later run updates these and only
-- these, so that an object packyard already had under the same name (an admin, a
-- package of its own) is never changed by another installation's data.
CREATE TABLE imported (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    imported_at {{bigint}} NOT NULL,
    PRIMARY KEY (kind, name)
);
