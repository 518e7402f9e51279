-- A counter that every change to the packages table moves, in the same transaction:
-- a replica that has not seen a package (or a version) another one just published
-- reads this one row to learn that its cache is behind, instead of answering 404.
-- Triggers rather than each write path, so that none can forget it.
CREATE TABLE catalogue_stamp (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO catalogue_stamp (id, version) VALUES (1, 0);
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
