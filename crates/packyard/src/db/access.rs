//! Access rules in the database: groups, their grants and members, user flags,
//! public packages, and the stamp every change of them moves (in the same transaction),
//! which replicas poll to reload what they hold.

use std::collections::{HashMap, HashSet};

use sqlx::{Any, Transaction};

use super::audit::Change;
use super::columns::{Flag, JsonNames, NullableJsonNames, nullable_json};
use super::{Db, now_millis, or_roll_back};

/// A group as stored, with its grants.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub updates_until: Option<i64>,
    /// Versions published less than this long ago (milliseconds) are not offered
    /// through its grants.
    pub min_release_age: Option<i64>,
    /// Mirror aliases (none when the stored list is unreadable).
    #[sqlx(try_from = "JsonNames")]
    pub mirrors: Vec<String>,
    /// The sub-repositories (slugs; `root` for the root repository) through which its
    /// grants count; `None`: everywhere.
    #[sqlx(try_from = "NullableJsonNames")]
    pub subrepos: Option<Vec<String>>,
    /// `(package or pattern, constraint)`, sorted by package.
    #[sqlx(skip)]
    pub grants: Vec<(String, Option<String>)>,
    /// Member user names, sorted.
    #[sqlx(skip)]
    pub members: Vec<String>,
}

/// Everything access decisions read, at one stamp.
#[derive(Debug, Default)]
pub struct AccessRules {
    pub stamp: i64,
    pub groups: Vec<GroupRow>,
    /// User id → ids of its groups.
    pub memberships: HashMap<i64, Vec<i64>>,
    pub public_packages: HashSet<String>,
    pub sub_repositories: Vec<super::SubRepositoryRow>,
}

/// What an admin changes about a group; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct GroupChange {
    /// `Some(None)` removes the freeze.
    pub updates_until: Option<Option<i64>>,
    /// `Some(None)` removes the cooldown.
    pub min_release_age: Option<Option<i64>>,
    pub mirrors: Option<Vec<String>>,
    /// `Some(None)` removes the limit.
    pub subrepos: Option<Option<Vec<String>>>,
    /// Every grant, `(package or pattern, constraint)`, replacing those it had.
    pub grants: Option<Vec<(String, Option<String>)>>,
}

impl GroupChange {
    /// The audit record of this change to the group `name`.
    fn recorded(&self, action: &'static str, name: &str) -> Change {
        Change::new(action, name)
            .detail(
                "updates_until",
                super::audit::set_or_cleared(&self.updates_until),
            )
            .detail(
                "min_release_age",
                super::audit::set_or_cleared(&self.min_release_age),
            )
            .detail("mirrors", &self.mirrors)
            .detail("subrepos", super::audit::set_or_cleared(&self.subrepos))
            .detail("grants", &self.grants)
    }
}

impl Db {
    /// The stamp of the last change to access rules, users or tokens.
    pub async fn access_stamp(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT changed_at FROM access_stamp WHERE id = 1")
            .fetch_one(self.pool())
            .await
    }

    pub async fn access_rules(&self) -> Result<AccessRules, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let stamp: i64 = sqlx::query_scalar("SELECT changed_at FROM access_stamp WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let mut groups: Vec<GroupRow> = sqlx::query_as(
            "SELECT id, name, updates_until, min_release_age, mirrors, subrepos FROM groups ORDER BY name",
        )
        .fetch_all(&mut *tx)
        .await?;
        let by_id: HashMap<i64, usize> =
            groups.iter().enumerate().map(|(i, g)| (g.id, i)).collect();
        let grants: Vec<(i64, String, Option<String>)> =
            sqlx::query_as("SELECT group_id, package, versions FROM group_grants ORDER BY package")
                .fetch_all(&mut *tx)
                .await?;
        for (group, package, versions) in grants {
            if let Some(&index) = by_id.get(&group) {
                groups[index].grants.push((package, versions));
            }
        }
        let mut memberships: HashMap<i64, Vec<i64>> = HashMap::new();
        let members: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT m.group_id, m.user_id, u.name FROM group_members m JOIN users u ON u.id = m.user_id ORDER BY u.name",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (group, user, name) in members {
            memberships.entry(user).or_default().push(group);
            if let Some(&index) = by_id.get(&group) {
                groups[index].members.push(name);
            }
        }
        let public_packages = sqlx::query_scalar("SELECT name FROM packages WHERE public = 1")
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
        let sub_repositories = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM sub_repositories ORDER BY slug",
            super::subrepos::COLUMNS
        )))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AccessRules {
            stamp,
            groups,
            memberships,
            public_packages,
            sub_repositories,
        })
    }

    /// Creates a group with `settings`, as one change; a unique violation when the
    /// name is taken.
    pub async fn create_group(
        &self,
        name: &str,
        settings: &GroupChange,
    ) -> Result<i64, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query_scalar(
            "INSERT INTO groups (name, mirrors, created_at) VALUES ($1, '[]', $2) RETURNING id",
        )
        .bind(name)
        .bind(now_millis())
        .fetch_one(&mut *tx)
        .await;
        let (mut tx, id) = or_roll_back(tx, inserted).await?;
        apply_group_change(&mut tx, id, settings).await?;
        commit_access_change(tx, &settings.recorded("group.created", name)).await?;
        Ok(id)
    }

    /// Removes a group, its grants and memberships; whether it existed.
    pub async fn remove_group(&self, name: &str) -> Result<bool, sqlx::Error> {
        let Some((mut tx, id)) = self.open_named(Named::Group, name).await? else {
            return Ok(false);
        };
        for table in ["group_grants", "group_members"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE group_id = $1"
            )))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        commit_access_change(tx, &Change::new("group.removed", name)).await?;
        Ok(true)
    }

    /// Changes a group's freeze, cooldown, mirrors, limit or grants, as one change;
    /// whether it exists.
    pub async fn change_group(
        &self,
        name: &str,
        change: &GroupChange,
    ) -> Result<bool, sqlx::Error> {
        let Some((mut tx, id)) = self.open_named(Named::Group, name).await? else {
            return Ok(false);
        };
        apply_group_change(&mut tx, id, change).await?;
        commit_access_change(tx, &change.recorded("group.changed", name)).await?;
        Ok(true)
    }

    /// Grants `package` (a name or pattern) to a group, replacing the constraint of an
    /// existing grant of it; whether the group exists.
    pub async fn grant(
        &self,
        group: &str,
        package: &str,
        versions: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let Some((mut tx, id)) = self.open_named(Named::Group, group).await? else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM group_grants WHERE group_id = $1 AND package = $2")
            .bind(id)
            .bind(package)
            .execute(&mut *tx)
            .await?;
        insert_grant(&mut tx, id, package, versions).await?;
        let change = Change::new("grant.added", group)
            .package(package)
            .detail("versions", versions);
        commit_access_change(tx, &change).await?;
        Ok(true)
    }
    /// Withdraws a grant; whether it existed.
    pub async fn revoke(&self, group: &str, package: &str) -> Result<bool, sqlx::Error> {
        let Some((mut tx, id)) = self.open_named(Named::Group, group).await? else {
            return Ok(false);
        };
        let removed = sqlx::query("DELETE FROM group_grants WHERE group_id = $1 AND package = $2")
            .bind(id)
            .bind(package)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        commit_access_change(tx, &Change::new("grant.removed", group).package(package)).await?;
        Ok(true)
    }

    /// Adds (`member = true`) or removes a user from a group. `None` when the group or
    /// the user does not exist.
    pub async fn set_membership(
        &self,
        group: &str,
        user: &str,
        member: bool,
    ) -> Result<Option<()>, sqlx::Error> {
        let Some((mut tx, group_id)) = self.open_named(Named::Group, group).await? else {
            return Ok(None);
        };
        let found = id_of(&mut tx, Named::User, user).await;
        let (mut tx, found) = or_roll_back(tx, found).await?;
        let Some(user_id): Option<i64> = found else {
            tx.rollback().await?;
            return Ok(None);
        };
        sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if member {
            sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)")
                .bind(group_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        let action = if member {
            "membership.added"
        } else {
            "membership.removed"
        };
        let change = Change::new(action, group).detail("user", user);
        commit_access_change(tx, &change).await?;
        Ok(Some(()))
    }

    /// Makes `user` a member of exactly the groups with these ids (unknown ids are
    /// ignored); whether the user exists.
    pub async fn set_user_groups(&self, user: &str, groups: &[i64]) -> Result<bool, sqlx::Error> {
        let Some((mut tx, user_id)) = self.open_named(Named::User, user).await? else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM group_members WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for group in groups {
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id) SELECT id, $2 FROM groups WHERE id = $1",
            )
            .bind(group)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        }
        let change = Change::new("membership.set", user).detail("group_ids", groups);
        commit_access_change(tx, &change).await?;
        Ok(true)
    }

    /// Marks a package public (visible to every caller) or not; whether it exists.
    pub async fn set_package_public(
        &self,
        package: &str,
        public: bool,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let changed = sqlx::query("UPDATE packages SET public = $2 WHERE name = $1")
            .bind(package)
            .bind(Flag(public))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let change = Change::of_package("package.visibility", package).detail("public", public);
        commit_access_change(tx, &change).await?;
        Ok(true)
    }
}

/// Applies `change` to group `id` in `tx`.
async fn apply_group_change(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    change: &GroupChange,
) -> Result<(), sqlx::Error> {
    if let Some(until) = change.updates_until {
        sqlx::query("UPDATE groups SET updates_until = $2 WHERE id = $1")
            .bind(id)
            .bind(until)
            .execute(&mut **tx)
            .await?;
    }
    if let Some(age) = change.min_release_age {
        sqlx::query("UPDATE groups SET min_release_age = $2 WHERE id = $1")
            .bind(id)
            .bind(age)
            .execute(&mut **tx)
            .await?;
    }
    if let Some(mirrors) = &change.mirrors {
        sqlx::query("UPDATE groups SET mirrors = $2 WHERE id = $1")
            .bind(id)
            .bind(serde_json::to_string(mirrors).expect("a list serializes"))
            .execute(&mut **tx)
            .await?;
    }
    if let Some(subrepos) = &change.subrepos {
        sqlx::query("UPDATE groups SET subrepos = $2 WHERE id = $1")
            .bind(id)
            .bind(nullable_json(subrepos.as_deref()))
            .execute(&mut **tx)
            .await?;
    }
    if let Some(grants) = &change.grants {
        sqlx::query("DELETE FROM group_grants WHERE group_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        for (package, versions) in grants {
            insert_grant(tx, id, package, versions.as_deref()).await?;
        }
    }
    Ok(())
}

/// A table whose rows are named: what [`Db::open_named`] looks a row up in.
#[derive(Clone, Copy)]
pub(super) enum Named {
    Group,
    User,
}

impl Db {
    /// A transaction on the row `name` of a table and the row's id; `None`, with the
    /// transaction already rolled back (see [`or_roll_back`]), when there is no such row.
    pub(super) async fn open_named(
        &self,
        table: Named,
        name: &str,
    ) -> Result<Option<(Transaction<'static, Any>, i64)>, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let found = id_of(&mut tx, table, name).await;
        match or_roll_back(tx, found).await? {
            (tx, Some(id)) => Ok(Some((tx, id))),
            (tx, None) => {
                tx.rollback().await?;
                Ok(None)
            }
        }
    }
}

/// The id of the row `name` of a table.
async fn id_of(
    tx: &mut Transaction<'_, Any>,
    table: Named,
    name: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let query = match table {
        Named::Group => "SELECT id FROM groups WHERE name = $1",
        Named::User => "SELECT id FROM users WHERE name = $1",
    };
    sqlx::query_scalar(query)
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
}

/// Adds the grant of `package` (a name or pattern) at `versions` to a group.
async fn insert_grant(
    tx: &mut Transaction<'_, Any>,
    group_id: i64,
    package: &str,
    versions: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO group_grants (group_id, package, versions) VALUES ($1, $2, $3)")
        .bind(group_id)
        .bind(package)
        .bind(versions)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records that who may see what changed, with `change` in the audit log, and commits.
pub(super) async fn commit_access_change(
    mut tx: Transaction<'_, Any>,
    change: &Change,
) -> Result<(), sqlx::Error> {
    bump_access_stamp(&mut tx).await?;
    super::audit::append(&mut tx, change).await?;
    tx.commit().await
}

/// Moves the access stamp forward in whole seconds: to now (rounded up), or a second
/// past the latest stamp given (to the rules or a package) when the clock has not moved
/// beyond it. Whole seconds because the stamp dates documents (`Last-Modified` has
/// one-second resolution): every change must date them later than the one before.
async fn bump_access_stamp(tx: &mut Transaction<'_, Any>) -> Result<(), sqlx::Error> {
    let stamp = super::packages::next_stamp(tx, (now_millis() + 999) / 1000 * 1000).await?;
    sqlx::query("UPDATE access_stamp SET changed_at = $1 WHERE id = 1")
        .bind(stamp)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::db::{Role, is_unique_violation, testing};

    use super::GroupChange;

    #[tokio::test]
    async fn groups_grants_and_members_are_stored_and_stamp_every_change() {
        for (db, _dir) in testing::engines().await {
            let stamps = |db: &crate::db::Db| {
                let db = db.clone();
                async move { db.access_stamp().await.unwrap() }
            };
            let before = stamps(&db).await;
            db.create_user("carol", Role::User, "hash-c").await.unwrap();
            db.create_group("customers", &GroupChange::default())
                .await
                .unwrap();
            assert!(is_unique_violation(
                &db.create_group("customers", &GroupChange::default())
                    .await
                    .unwrap_err()
            ));
            assert!(
                db.grant("customers", "acme/lib", Some("^1.0"))
                    .await
                    .unwrap()
            );
            assert!(db.grant("customers", "acme/*", None).await.unwrap());
            assert!(
                db.grant("customers", "acme/lib", Some("^2.0"))
                    .await
                    .unwrap(),
                "replaced"
            );
            assert!(!db.grant("nobody", "acme/lib", None).await.unwrap());
            assert_eq!(
                db.set_membership("customers", "carol", true).await.unwrap(),
                Some(())
            );
            assert_eq!(
                db.set_membership("customers", "ghost", true).await.unwrap(),
                None
            );
            let change = GroupChange {
                updates_until: Some(Some(1_700_000_000_000)),
                min_release_age: Some(Some(3 * 86_400_000)),
                mirrors: Some(vec!["packagist".into()]),
                subrepos: Some(Some(vec!["root".into()])),
                grants: None,
            };
            assert!(db.change_group("customers", &change).await.unwrap());
            let rules = db.access_rules().await.unwrap();
            assert!(rules.stamp > before);
            let group = &rules.groups[0];
            assert_eq!(group.name, "customers");
            assert_eq!(group.subrepos.as_deref(), Some(&["root".to_owned()][..]));
            assert_eq!(
                group.grants,
                [
                    ("acme/*".to_owned(), None),
                    ("acme/lib".to_owned(), Some("^2.0".to_owned()))
                ]
            );
            assert_eq!(group.members, ["carol"]);
            assert_eq!(group.updates_until, Some(1_700_000_000_000));
            assert_eq!(group.min_release_age, Some(3 * 86_400_000));
            assert_eq!(group.mirrors, ["packagist"]);
            let carol = db.user_credentials("carol").await.unwrap().unwrap().user;
            assert_eq!(rules.memberships[&carol.id], [group.id]);

            let stamp = rules.stamp;
            assert!(db.revoke("customers", "acme/*").await.unwrap());
            assert!(!db.revoke("customers", "acme/*").await.unwrap());
            assert!(stamps(&db).await > stamp);
            assert!(db.remove_group("customers").await.unwrap());
            assert!(!db.remove_group("customers").await.unwrap());
            let rules = db.access_rules().await.unwrap();
            assert!(rules.groups.is_empty() && rules.memberships.is_empty());
        }
    }
}
