-- A counter that every change to the packages table moves, in the same transaction:
-- a replica that has not seen a package (or a version) another one just published
-- reads this one row to learn that its cache is behind, instead of answering 404.
-- Triggers rather than each write path, so that none can forget it.
CREATE TABLE catalogue_stamp (
    id {{bigint}} PRIMARY KEY CHECK (id = 1),
    version {{bigint}} NOT NULL
);
INSERT INTO catalogue_stamp (id, version) VALUES (1, 0);
-- The engines' trigger languages differ: SQLite has row triggers with a body of
-- statements, one per kind of change; PostgreSQL runs a function, once per statement.
{{sqlite}}
CREATE TRIGGER catalogue_package_inserted AFTER INSERT ON packages
BEGIN
    UPDATE catalogue_stamp SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER catalogue_package_updated AFTER UPDATE ON packages
BEGIN
    UPDATE catalogue_stamp SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER catalogue_package_deleted AFTER DELETE ON packages
BEGIN
    UPDATE catalogue_stamp SET version = version + 1 WHERE id = 1;
END;
{{end}}
{{postgres}}
CREATE FUNCTION catalogue_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalogue_stamp SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER catalogue_packages_changed AFTER INSERT OR UPDATE OR DELETE ON packages
    FOR EACH STATEMENT EXECUTE FUNCTION catalogue_changed();
{{end}}
-- The latest change stamp given to a package or to the access rules: every new one is
-- past it, so that a document dated by both (a filtered p2 document is dated by its
-- package's stamp and the rules' stamp) moves forward whichever changes.
ALTER TABLE catalogue_stamp ADD COLUMN last_stamp {{bigint}} NOT NULL DEFAULT 0;
UPDATE catalogue_stamp SET last_stamp = {{greatest}}(
    COALESCE((SELECT MAX(updated_at) FROM packages), 0),
    COALESCE((SELECT changed_at FROM access_stamp WHERE id = 1), 0)
) WHERE id = 1;
