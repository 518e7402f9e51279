-- Replicas catch up by reading the packages changed since the newest stamp they know
-- (`WHERE updated_at > $1`): with this index that read costs what changed, not the
-- whole catalogue.
CREATE INDEX packages_updated_at ON packages (updated_at);
