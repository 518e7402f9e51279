//! Access control: what each caller may see. The rules live in the database
//! (`db::access`); every process holds a snapshot ([`policy::Policy`]) and re-reads it
//! within [`REFRESH_INTERVAL`] of any change, as it does for package metadata, so
//! serving a request never queries the rules.

pub mod policy;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use policy::View;
use policy::{Grant, Group, Member, Policy};

use crate::db::{AccessRules, Db, User};

/// How often each process checks whether access rules changed.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(2);

struct Snapshot {
    policy: Policy,
    /// User id → its groups.
    memberships: HashMap<i64, Vec<i64>>,
    /// Views handed out, by user id (`None`: anonymous); dropped with the snapshot.
    views: RwLock<HashMap<Option<i64>, Arc<View>>>,
}

pub struct Access {
    db: Db,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl Access {
    pub async fn load(db: Db) -> Result<Access, sqlx::Error> {
        let rules = db.access_rules().await?;
        Ok(Access {
            db,
            snapshot: RwLock::new(Arc::new(snapshot(rules))),
        })
    }

    /// Re-reads the rules when their stamp moved; returns whether it did.
    pub async fn refresh(&self) -> Result<bool, sqlx::Error> {
        let current = self.snapshot.read().unwrap().policy.stamp;
        if self.db.access_stamp().await? == current {
            return Ok(false);
        }
        let rules = self.db.access_rules().await?;
        *self.snapshot.write().unwrap() = Arc::new(snapshot(rules));
        Ok(true)
    }

    /// What `user` (`None`: an anonymous caller) may see.
    pub fn view(&self, user: Option<&User>) -> Arc<View> {
        let snapshot = self.snapshot.read().unwrap().clone();
        let id = user.map(|u| u.id);
        if let Some(view) = snapshot.views.read().unwrap().get(&id) {
            return view.clone();
        }
        let member = user.map(|user| Member {
            sees_everything: user.sees_everything(),
            updates_until: user.updates_until,
            groups: snapshot
                .memberships
                .get(&user.id)
                .cloned()
                .unwrap_or_default(),
        });
        let view = Arc::new(snapshot.policy.view(member.as_ref()));
        snapshot.views.write().unwrap().insert(id, view.clone());
        view
    }
}

fn snapshot(rules: AccessRules) -> Snapshot {
    let groups = rules
        .groups
        .into_iter()
        .map(|row| Group {
            id: row.id,
            name: row.name,
            updates_until: row.updates_until,
            mirrors: row.mirrors,
            grants: row
                .grants
                .iter()
                .map(|(package, versions)| Grant::new(package, versions.as_deref()))
                .collect(),
        })
        .collect();
    Snapshot {
        policy: Policy::new(rules.stamp, groups, rules.public_packages),
        memberships: rules.memberships,
        views: RwLock::new(HashMap::new()),
    }
}
