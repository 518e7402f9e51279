//! Access control: what each caller may see. The rules live in the database
//! (`db::access`); every process holds a snapshot ([`policy::Policy`]) and re-reads it
//! within [`REFRESH_INTERVAL`] of any change, as it does for package metadata, so
//! serving a request never queries the rules.
//!
//! Changes to the rules, users and tokens are made through [`admin::AccessAdmin`], by the
//! API, the web UI and the CLI alike; [`accounts`] says who may change whom.

pub mod accounts;
pub mod admin;
pub mod policy;
pub mod roles;
pub mod subrepos;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub use accounts::{AccountChangeRefused, Actor, may_apply, may_change_account};
pub use admin::{AccessAdmin, AdminError};
pub use policy::View;
use policy::{Grant, Group, Member, PackageSet, Policy};

use crate::db::{AccessRules, Db, User};
use crate::freshness::Recheck;

/// A grant that names neither a package nor a pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither a package name nor a pattern of lowercase name characters and *")]
pub struct InvalidGrantTarget(pub String);

/// What a grant may name: a valid package name, or a pattern of lowercase name
/// characters and `*` (`acme/*`).
pub fn check_grant_target(target: &str) -> Result<(), InvalidGrantTarget> {
    let valid = if target.contains('*') {
        target
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-/*".contains(c))
    } else {
        composer::package_name::validate(target).is_ok()
    };
    if valid {
        Ok(())
    } else {
        Err(InvalidGrantTarget(target.to_owned()))
    }
}

/// How often each process checks whether access rules changed.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(2);

/// What a user's view is built from besides the snapshot.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct ViewFacts {
    id: i64,
    sees_everything: bool,
    updates_until: Option<i64>,
    min_release_age: Option<i64>,
}

struct Snapshot {
    policy: Policy,
    /// User id → its groups.
    memberships: HashMap<i64, Vec<i64>>,
    /// Views handed out, by the user facts they were built from (`None`: anonymous);
    /// dropped with the snapshot. Keyed by the facts, not the id alone, so that a
    /// user row older than the snapshot cannot leave its view behind in it.
    views: RwLock<HashMap<Option<ViewFacts>, Arc<View>>>,
    /// Sub-repositories by slug.
    sub_repositories: HashMap<String, Arc<SubRepository>>,
    /// Host name (lowercase) → the slug of the sub-repository answering for it.
    hosts: HashMap<String, String>,
    /// What users limited to other sub-repositories see.
    nothing: Arc<View>,
}

/// A sub-repository as requests see it: its row and its package set.
#[derive(Debug)]
pub struct SubRepository {
    pub row: crate::db::SubRepositoryRow,
    packages: Arc<PackageSet>,
    /// For a public sub-repository, what everybody sees through it: all of it.
    public_view: Option<Arc<View>>,
}

impl SubRepository {
    /// Whether anonymous callers may read it.
    pub fn is_public(&self) -> bool {
        self.public_view.is_some()
    }
}

pub struct Access {
    db: Db,
    snapshot: RwLock<Arc<Snapshot>>,
    stamp_recheck: Recheck,
}

impl Access {
    pub async fn load(db: Db) -> Result<Access, sqlx::Error> {
        let rules = db.access_rules().await?;
        Ok(Access {
            db,
            snapshot: RwLock::new(Arc::new(snapshot(rules))),
            stamp_recheck: Recheck::default(),
        })
    }

    /// The stamp of the rules this process holds.
    pub fn stamp(&self) -> i64 {
        self.snapshot.read().unwrap().policy.stamp
    }

    /// Whether the rules in the database differ from those of stamp `seen` (the view a
    /// request was answered by), read in a check that starts now (see `freshness`):
    /// before a caller is told that something does not exist, since a grant given
    /// through another replica may not have reached this one.
    pub async fn moved_from(&self, seen: i64) -> Result<bool, sqlx::Error> {
        let stamp = self
            .stamp_recheck
            .stamp(Instant::now(), || self.db.access_stamp())
            .await?;
        Ok(stamp != seen)
    }

    /// Re-reads the rules when their stamp moved; returns whether it did. `before_swap`
    /// runs before the new rules take effect (the credential cache is emptied there,
    /// so that no request pairs old credentials with new rules).
    pub async fn refresh(&self, before_swap: impl FnOnce()) -> Result<bool, sqlx::Error> {
        let current = self.snapshot.read().unwrap().policy.stamp;
        if self.db.access_stamp().await? == current {
            return Ok(false);
        }
        let rules = self.db.access_rules().await?;
        before_swap();
        *self.snapshot.write().unwrap() = Arc::new(snapshot(rules));
        Ok(true)
    }

    /// The sub-repository `slug`, as of the rules this process holds.
    pub fn sub_repository(&self, slug: &str) -> Option<Arc<SubRepository>> {
        self.snapshot
            .read()
            .unwrap()
            .sub_repositories
            .get(slug)
            .cloned()
    }

    /// The sub-repositories `user` (`None`: an anonymous caller) may read through, by
    /// slug: public ones for everybody; for a user, every other one its limit names
    /// (all of them without a limit — what it sees there may still be nothing).
    pub fn sub_repositories_for(&self, user: Option<&User>) -> Vec<Arc<SubRepository>> {
        let mut found: Vec<Arc<SubRepository>> = self
            .snapshot
            .read()
            .unwrap()
            .sub_repositories
            .values()
            .filter(|sub| {
                sub.is_public()
                    || user.is_some_and(|user| user.may_use_sub_repository(Some(&sub.row.slug)))
            })
            .cloned()
            .collect();
        found.sort_by(|a, b| a.row.slug.cmp(&b.row.slug));
        found
    }

    /// The slug of the sub-repository that answers for requests to `host` (a `Host`
    /// header: the name, with or without a port), if any.
    pub fn sub_repository_of_host(&self, host: &str) -> Option<String> {
        let snapshot = self.snapshot.read().unwrap();
        if snapshot.hosts.is_empty() {
            return None;
        }
        snapshot
            .hosts
            .get(&host_name(host).to_ascii_lowercase())
            .cloned()
    }

    /// What `user` (`None`: an anonymous caller) may see at the root repository:
    /// nothing at all for a user limited to sub-repositories that leave the root out.
    pub fn view(&self, user: Option<&User>) -> Arc<View> {
        let snapshot = self.snapshot.read().unwrap().clone();
        if user.is_some_and(|user| !user.may_use_sub_repository(None)) {
            return snapshot.nothing.clone();
        }
        Self::unlimited_view(&snapshot, user)
    }

    /// What `user` may see through `sub_repository`, or `None` when the user is
    /// limited to other sub-repositories: answered as if it did not exist. A public
    /// sub-repository answers everyone alike (refusing a token where no token is
    /// needed would protect nothing).
    pub fn view_in(
        &self,
        user: Option<&User>,
        sub_repository: &SubRepository,
    ) -> Option<Arc<View>> {
        let snapshot = self.snapshot.read().unwrap().clone();
        // The sub-repository as the rules of this view have it: a view's key is its
        // stamp and package set, so both must come from one snapshot (documents are
        // cached by that key).
        let current = snapshot.sub_repositories.get(&sub_repository.row.slug)?;
        if let Some(everybody) = &current.public_view {
            return Some(everybody.clone());
        }
        if user.is_some_and(|user| !user.may_use_sub_repository(Some(&current.row.slug))) {
            return None;
        }
        let view = Self::unlimited_view(&snapshot, user);
        Some(Arc::new(view.within(current.packages.clone())))
    }

    /// The view that says which mirrors `user` may use at the root (`sub_repository`:
    /// `None`) or through a sub-repository: the grants of its groups that count there.
    /// `None` for anonymous callers and where the user's limit keeps it out (a mirror's
    /// own `public_access` is for the caller to weigh).
    pub fn mirror_rights_in(
        &self,
        user: Option<&User>,
        sub_repository: Option<&SubRepository>,
    ) -> Option<Arc<View>> {
        let user = user?;
        if !user.may_use_sub_repository(sub_repository.map(|sub| sub.row.slug.as_str())) {
            return None;
        }
        let snapshot = self.snapshot.read().unwrap().clone();
        let view = Self::unlimited_view(&snapshot, Some(user));
        Some(match sub_repository {
            Some(sub) => Arc::new(view.within(sub.packages.clone())),
            None => view,
        })
    }

    /// What `user` may see, its sub-repository limit aside.
    fn unlimited_view(snapshot: &Snapshot, user: Option<&User>) -> Arc<View> {
        let facts = user.map(|u| ViewFacts {
            id: u.id,
            sees_everything: u.sees_everything(),
            updates_until: u.updates_until,
            min_release_age: u.min_release_age,
        });
        if let Some(view) = snapshot.views.read().unwrap().get(&facts) {
            return view.clone();
        }
        let member = user.map(|user| Member {
            sees_everything: user.sees_everything(),
            updates_until: user.updates_until,
            min_release_age: user.min_release_age,
            groups: snapshot
                .memberships
                .get(&user.id)
                .cloned()
                .unwrap_or_default(),
        });
        let view = Arc::new(snapshot.policy.view(member.as_ref()));
        snapshot.views.write().unwrap().insert(facts, view.clone());
        view
    }
}

/// The name of a `Host` header, without its port: `name:8080` and `[::1]:8080` lose
/// it; the colons of a bare IPv6 address stay.
pub fn host_name(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    }
}

fn snapshot(rules: AccessRules) -> Snapshot {
    let groups = rules
        .groups
        .into_iter()
        .map(|row| {
            let grants = row
                .grants
                .iter()
                .map(|(package, versions)| Grant::new(package, versions.as_deref()))
                .collect();
            Group::new(row.id, row.name, row.updates_until, row.mirrors, grants)
                .limited_to(row.subrepos)
                .with_min_release_age(row.min_release_age)
        })
        .collect();
    let policy = Policy::new(rules.stamp, groups, rules.public_packages);
    let nothing = Arc::new(View::nothing(rules.stamp));
    let everything = policy.view(Some(&Member {
        sees_everything: true,
        ..Member::default()
    }));
    let mut hosts = HashMap::new();
    let sub_repositories = rules
        .sub_repositories
        .into_iter()
        .map(|row| {
            let packages = Arc::new(PackageSet::new(row.id, &row.slug, &row.packages));
            let public_view = row
                .public
                .then(|| Arc::new(everything.within(packages.clone())));
            for host in &row.hosts {
                hosts.insert(host.to_ascii_lowercase(), row.slug.clone());
            }
            let sub_repository = SubRepository {
                row,
                packages,
                public_view,
            };
            (sub_repository.row.slug.clone(), Arc::new(sub_repository))
        })
        .collect();
    Snapshot {
        policy,
        memberships: rules.memberships,
        views: RwLock::new(HashMap::new()),
        sub_repositories,
        hosts,
        nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn a_host_header_loses_its_port_and_nothing_else() {
        for (header, name) in [
            ("client-a.example", "client-a.example"),
            ("client-a.example:8443", "client-a.example"),
            ("[::1]:8080", "[::1]"),
            ("::1", "::1"),
            ("name:port", "name:port"),
        ] {
            assert_eq!(host_name(header), name, "{header}");
        }
    }
}
