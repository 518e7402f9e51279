//! Which objects `packyard import` created (`imported`), so that it changes only those.

use std::collections::HashSet;

use super::{Db, now_millis};

impl Db {
    /// The names of the objects of `kind` an import created.
    pub async fn imported_names(&self, kind: &str) -> Result<HashSet<String>, sqlx::Error> {
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM imported WHERE kind = $1")
            .bind(kind)
            .fetch_all(self.pool())
            .await?;
        Ok(names.into_iter().collect())
    }

    /// Notes that an import from `source` created the object `kind` `name`.
    pub async fn note_imported(
        &self,
        kind: &str,
        name: &str,
        source: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO imported (kind, name, source, imported_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (kind, name) DO NOTHING",
        )
        .bind(kind)
        .bind(name)
        .bind(source)
        .bind(now_millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
