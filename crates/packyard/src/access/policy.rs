//! Who may see which packages and versions, as pure data: a [`Policy`] is a snapshot of
//! the groups, their grants and members, and the public packages; a [`View`] is what
//! one caller may see, derived from it.
//!
//! The rules (ARCHITECTURE.md, "Access control"):
//! - admins, maintainers and full-access users see everything;
//! - every authenticated caller sees public packages, whole;
//! - anonymous callers (with `PUBLIC_ACCESS`) see public packages only;
//! - a plain user sees what its groups grant, the union over its groups. A grant names a
//!   package or a pattern (`acme/*`) and optionally a Composer constraint; a version
//!   is visible through a grant when the constraint matches and it was released no
//!   later than the grant's freeze date: the group's `updates_until`, or the user's
//!   when the group has none.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use composer::constraint::Constraint;

use crate::db::ROOT_SUB_REPOSITORY;

/// A version as cooldowns (`supply_chain::release_age`) judge it.
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    pub normalized: &'a str,
    /// Its commit's or upload's time (update freezes go by it).
    pub released_at: i64,
    /// When packyard first published it (cooldowns go by it).
    pub published_at: i64,
    /// Whether it fixes a published advisory, which exempts it from cooldowns.
    pub exempt: bool,
}

impl Release<'_> {
    /// Whether it is at least `age` old at `now` (every version is when `age` is
    /// `None`, and an exempt one always is).
    pub fn old_enough(&self, age: Option<i64>, now: i64) -> bool {
        self.exempt || age.is_none_or(|age| self.published_at <= now - age)
    }
}

/// One grant of a group: which versions of a package (or of the packages a pattern
/// matches) its members may see.
#[derive(Debug, Clone)]
pub struct Grant {
    /// A package name, or a pattern with `*`.
    pub package: String,
    /// The constraint as written; `None` grants every version.
    pub versions: Option<String>,
    constraint: Option<Constraint>,
}

impl Grant {
    /// A grant whose constraint already parsed (it was checked when it was stored; one
    /// that no longer parses grants nothing rather than everything).
    pub fn new(package: &str, versions: Option<&str>) -> Grant {
        let constraint =
            versions.map(|text| Constraint::parse(text).unwrap_or(Constraint::Or(vec![])));
        Grant {
            package: package.to_owned(),
            versions: versions.map(str::to_owned),
            constraint,
        }
    }

    fn admits(&self, normalized: &str) -> bool {
        self.constraint
            .as_ref()
            .is_none_or(|constraint| constraint.matches(normalized))
    }
}

/// A group: its grants, its update freeze and the mirrors its members may use.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: i64,
    pub name: String,
    /// Versions released after this time (Unix milliseconds) are hidden.
    pub updates_until: Option<i64>,
    /// Versions published less than this long ago (milliseconds) are not offered
    /// through its grants.
    pub min_release_age: Option<i64>,
    pub mirrors: Vec<String>,
    pub grants: Vec<Grant>,
    /// The sub-repositories (slugs, [`ROOT_SUB_REPOSITORY`] for the root) through which
    /// its grants and mirrors count; `None`: everywhere.
    pub subrepos: Option<Vec<String>>,
    /// Grants by exact package name, and the pattern grants (compiled): finding a
    /// package's grants costs one lookup and the patterns, not a pass over thousands
    /// of grants, and allocates nothing.
    exact: HashMap<String, Vec<usize>>,
    patterns: Vec<(Pattern, usize)>,
}

/// A `*` pattern split once into its literal parts.
#[derive(Debug, Clone)]
struct Pattern {
    parts: Vec<String>,
}

impl Pattern {
    fn new(pattern: &str) -> Pattern {
        Pattern {
            parts: pattern.split('*').map(str::to_owned).collect(),
        }
    }

    /// `*` matches any run of characters (as `pattern_matches`).
    fn matches(&self, name: &str) -> bool {
        let (first, last) = (&self.parts[0], &self.parts[self.parts.len() - 1]);
        if self.parts.len() == 1 {
            return first == name;
        }
        if name.len() < first.len() + last.len()
            || !name.starts_with(first.as_str())
            || !name.ends_with(last.as_str())
        {
            return false;
        }
        let mut rest = &name[first.len()..name.len() - last.len()];
        for middle in &self.parts[1..self.parts.len() - 1] {
            match rest.find(middle.as_str()) {
                Some(at) => rest = &rest[at + middle.len()..],
                None => return false,
            }
        }
        true
    }
}

/// A set of packages given by names and `*` patterns: what a sub-repository holds.
#[derive(Debug)]
pub struct PackageSet {
    /// Tells views within different sets apart ([`View::key`]).
    id: i64,
    /// The sub-repository's slug, which group limits name.
    slug: String,
    exact: HashSet<String>,
    patterns: Vec<Pattern>,
}

impl PackageSet {
    pub fn new(id: i64, slug: &str, entries: &[String]) -> PackageSet {
        let (patterns, exact): (Vec<&String>, Vec<&String>) =
            entries.iter().partition(|entry| entry.contains('*'));
        PackageSet {
            id,
            slug: slug.to_owned(),
            exact: exact.into_iter().cloned().collect(),
            patterns: patterns.into_iter().map(|p| Pattern::new(p)).collect(),
        }
    }

    pub fn contains(&self, package: &str) -> bool {
        self.exact.contains(package) || self.patterns.iter().any(|p| p.matches(package))
    }
}

impl Group {
    pub fn new(
        id: i64,
        name: String,
        updates_until: Option<i64>,
        mirrors: Vec<String>,
        grants: Vec<Grant>,
    ) -> Group {
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut patterns = Vec::new();
        for (index, grant) in grants.iter().enumerate() {
            if grant.package.contains('*') {
                patterns.push((Pattern::new(&grant.package), index));
            } else {
                exact.entry(grant.package.clone()).or_default().push(index);
            }
        }
        Group {
            id,
            name,
            updates_until,
            min_release_age: None,
            mirrors,
            grants,
            subrepos: None,
            exact,
            patterns,
        }
    }

    /// This group, its grants counting only through the sub-repositories `subrepos`
    /// names (`None`: everywhere).
    #[must_use]
    pub fn limited_to(self, subrepos: Option<Vec<String>>) -> Group {
        Group { subrepos, ..self }
    }

    /// This group with a cooldown on what its grants offer.
    #[must_use]
    pub fn with_min_release_age(self, min_release_age: Option<i64>) -> Group {
        Group {
            min_release_age,
            ..self
        }
    }

    /// Whether its grants and mirrors count at `place` (a slug, or the root's name).
    fn counts_in(&self, place: &str) -> bool {
        self.subrepos
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|slug| slug == place))
    }

    /// The grants that cover `package`.
    fn grants_for<'a>(&'a self, package: &'a str) -> impl Iterator<Item = &'a Grant> + 'a {
        let exact = self.exact.get(package).into_iter().flatten();
        let patterns = self
            .patterns
            .iter()
            .filter(move |(pattern, _)| pattern.matches(package))
            .map(|(_, index)| index);
        exact.chain(patterns).map(|&index| &self.grants[index])
    }
}

/// The user facts access depends on.
#[derive(Debug, Clone, Default)]
pub struct Member {
    /// Admins, maintainers and full-access users see everything.
    pub sees_everything: bool,
    pub updates_until: Option<i64>,
    /// The user's own cooldown, on everything it sees.
    pub min_release_age: Option<i64>,
    pub groups: Vec<i64>,
}

/// A snapshot of every rule, and the stamp of the change it reflects.
#[derive(Debug, Default)]
pub struct Policy {
    pub stamp: i64,
    groups: HashMap<i64, Arc<Group>>,
    public: Arc<HashSet<String>>,
}

impl Policy {
    pub fn new(stamp: i64, groups: Vec<Group>, public: HashSet<String>) -> Policy {
        Policy {
            stamp,
            groups: groups
                .into_iter()
                .map(|group| (group.id, Arc::new(group)))
                .collect(),
            public: Arc::new(public),
        }
    }

    /// What a caller may see: `None` for an anonymous one.
    pub fn view(&self, member: Option<&Member>) -> View {
        let public = self.public.clone();
        let Some(member) = member else {
            return View::new(Reach::PublicOnly, public, self.stamp);
        };
        let view = self.reach_of(member, public);
        match member.min_release_age {
            Some(age) => view.with_min_release_age(age),
            None => view,
        }
    }

    fn reach_of(&self, member: &Member, public: Arc<HashSet<String>>) -> View {
        if member.sees_everything {
            return View::new(Reach::Everything, public, self.stamp);
        }
        let ids: BTreeSet<i64> = member.groups.iter().copied().collect();
        let groups = ids
            .iter()
            .filter_map(|id| self.groups.get(id).cloned())
            .collect();
        View::new(
            Reach::Groups {
                groups,
                user_updates_until: member.updates_until,
            },
            public,
            self.stamp,
        )
    }
}

#[derive(Debug, Clone)]
enum Reach {
    Everything,
    PublicOnly,
    /// Not even public packages: a user limited to other sub-repositories.
    Nothing,
    Groups {
        groups: Vec<Arc<Group>>,
        user_updates_until: Option<i64>,
    },
}

/// What one caller may see. Callers with the same groups and freeze share a
/// [`View::key`], so what is rendered for one serves the others.
#[derive(Debug)]
pub struct View {
    reach: Reach,
    public: Arc<HashSet<String>>,
    /// Through a sub-repository: only its packages, whatever else the caller sees.
    within: Option<Arc<PackageSet>>,
    /// The caller's own cooldown (its user's or its token's), on everything it sees.
    min_release_age: Option<i64>,
    key: u64,
    stamp: i64,
}

impl View {
    fn new(reach: Reach, public: Arc<HashSet<String>>, stamp: i64) -> View {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        stamp.hash(&mut hasher);
        match &reach {
            Reach::Everything => 0u8.hash(&mut hasher),
            Reach::PublicOnly => 1u8.hash(&mut hasher),
            Reach::Nothing => 3u8.hash(&mut hasher),
            Reach::Groups {
                groups,
                user_updates_until,
            } => {
                2u8.hash(&mut hasher);
                for group in groups {
                    group.id.hash(&mut hasher);
                }
                user_updates_until.hash(&mut hasher);
            }
        }
        View {
            key: hasher.finish(),
            reach,
            public,
            within: None,
            min_release_age: None,
            stamp,
        }
    }

    /// This view with a cooldown of `age` milliseconds on everything it sees.
    #[must_use]
    pub fn with_min_release_age(self, age: i64) -> View {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.key.hash(&mut hasher);
        "min_release_age".hash(&mut hasher);
        age.hash(&mut hasher);
        View {
            key: hasher.finish(),
            min_release_age: Some(age),
            ..self
        }
    }

    /// This view through a sub-repository: what it sees of `set`'s packages, and
    /// nothing else (an admin sees the whole sub-repository and nothing outside it).
    #[must_use]
    pub fn within(&self, set: Arc<PackageSet>) -> View {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.key.hash(&mut hasher);
        set.id.hash(&mut hasher);
        View {
            reach: self.reach.clone(),
            public: self.public.clone(),
            key: hasher.finish(),
            within: Some(set),
            min_release_age: self.min_release_age,
            stamp: self.stamp,
        }
    }

    /// Whether `package` is in the sub-repository this view looks through, if any.
    fn in_scope(&self, package: &str) -> bool {
        self.within.as_ref().is_none_or(|set| set.contains(package))
    }

    /// What a user limited to other sub-repositories sees here: nothing at all, not
    /// even public packages, so that everything answers as unknown.
    pub fn nothing(stamp: i64) -> View {
        View::new(Reach::Nothing, Arc::default(), stamp)
    }

    /// Where this view looks: its sub-repository's slug, or the root's name.
    fn place(&self) -> &str {
        self.within
            .as_ref()
            .map_or(ROOT_SUB_REPOSITORY, |set| set.slug.as_str())
    }

    /// The caller's groups that count where this view looks.
    fn groups_here<'a>(&'a self, groups: &'a [Arc<Group>]) -> impl Iterator<Item = &'a Arc<Group>> {
        let place = self.place();
        groups.iter().filter(move |group| group.counts_in(place))
    }

    /// A view that sees everything, for the CLI and internal work.
    pub fn everything() -> View {
        View::new(Reach::Everything, Arc::default(), 0)
    }

    /// Equal for callers who see the same versions.
    pub fn key(&self) -> u64 {
        self.key
    }

    /// The stamp of the rules this view reflects: what a caller sees changed no earlier
    /// (Unix milliseconds), so documents filtered by it are no older than that.
    pub fn stamp(&self) -> i64 {
        self.stamp
    }

    /// Whether this caller sees every version of every package.
    pub fn sees_everything(&self) -> bool {
        matches!(self.reach, Reach::Everything)
            && self.within.is_none()
            && self.min_release_age.is_none()
    }

    /// Whether a cooldown applies anywhere in this view, so that what it sees changes
    /// as time passes, not only with the rules.
    pub fn has_release_age(&self) -> bool {
        self.min_release_age.is_some()
            || match &self.reach {
                Reach::Groups { groups, .. } => self
                    .groups_here(groups)
                    .any(|group| group.min_release_age.is_some()),
                _ => false,
            }
    }

    /// Whether any version of `package` may be visible to this caller.
    pub fn sees_package(&self, package: &str) -> bool {
        self.any_group_admits(package, |group, _| {
            group.grants_for(package).next().is_some()
        })
    }

    /// Whether every version of `package` is visible (no constraint, no freeze), so
    /// that its documents can be served unfiltered.
    pub fn sees_all_versions_of(&self, package: &str) -> bool {
        self.min_release_age.is_none()
            && self.any_group_admits(package, |group, frozen_after| {
                frozen_after.is_none()
                    && group.min_release_age.is_none()
                    && group
                        .grants_for(package)
                        .any(|grant| grant.versions.is_none())
            })
    }

    /// Whether `release` of `package` is offered to this caller at `now` (Unix
    /// milliseconds): visible ([`Self::sees_version`]) through a group whose cooldown
    /// (or the caller's own, whichever is longer) it has outlived.
    pub fn offers(&self, package: &str, release: &Release<'_>, now: i64) -> bool {
        let own = self.min_release_age;
        release.old_enough(own, now)
            && self.any_group_admits(package, |group, frozen_after| {
                frozen_after.is_none_or(|until| release.released_at <= until)
                    && release.old_enough(group.min_release_age.max(own), now)
                    && group
                        .grants_for(package)
                        .any(|grant| grant.admits(release.normalized))
            })
    }

    /// Whether the version `normalized` of `package`, released at `released_at` (Unix
    /// milliseconds; for a branch, its commit's time), is visible.
    pub fn sees_version(&self, package: &str, normalized: &str, released_at: i64) -> bool {
        self.any_group_admits(package, |group, frozen_after| {
            frozen_after.is_none_or(|until| released_at <= until)
                && group
                    .grants_for(package)
                    .any(|grant| grant.admits(normalized))
        })
    }

    /// Whether `package` passes: outright for a caller who sees everything or for a
    /// public package, never for an anonymous caller otherwise, and else when `admits`
    /// holds for one of the caller's groups, given the time its updates are frozen
    /// after (the group's own freeze, else the user's).
    fn any_group_admits(
        &self,
        package: &str,
        admits: impl Fn(&Group, Option<i64>) -> bool,
    ) -> bool {
        if !self.in_scope(package) {
            return false;
        }
        match &self.reach {
            Reach::Everything => true,
            Reach::Nothing => false,
            _ if self.public.contains(package) => true,
            Reach::PublicOnly => false,
            Reach::Groups {
                groups,
                user_updates_until,
            } => self
                .groups_here(groups)
                .any(|group| admits(group, group.updates_until.or(*user_updates_until))),
        }
    }

    /// Whether this caller may use the mirror `alias`: everybody who sees everything;
    /// members of a group that lists it (and counts here); nobody else.
    pub fn may_use_mirror(&self, alias: &str) -> bool {
        match &self.reach {
            Reach::Everything => true,
            Reach::PublicOnly | Reach::Nothing => false,
            Reach::Groups { groups, .. } => self
                .groups_here(groups)
                .any(|group| group.mirrors.iter().any(|m| m == alias)),
        }
    }

    /// The cooldown this caller's versions from the mirror `alias` are under: its own
    /// (the user's or the token's), or longer when every group that gives it the mirror
    /// has a longer one (the most lenient group counts, as for grants). The mirror's
    /// own `min_release_age` is applied on top of this by the mirror.
    pub fn mirror_release_age(&self, alias: &str) -> Option<i64> {
        let groups = match &self.reach {
            Reach::Groups { groups, .. } => self
                .groups_here(groups)
                .filter(|group| group.mirrors.iter().any(|m| m == alias))
                .map(|group| group.min_release_age)
                .min()
                .flatten(),
            Reach::Everything | Reach::PublicOnly | Reach::Nothing => None,
        };
        groups.max(self.min_release_age)
    }

    /// Why `package` (at `version`, when given) is visible or not, for
    /// `packyard access explain`.
    pub fn explain(&self, package: &str, version: Option<(&str, i64)>) -> String {
        if !self.in_scope(package) {
            return format!("{package} is not in this sub-repository");
        }
        match &self.reach {
            Reach::Everything => "sees every package (admin, maintainer or full access)".into(),
            Reach::Nothing => "this user is limited to other sub-repositories".into(),
            _ if self.public.contains(package) => format!("{package} is public"),
            Reach::PublicOnly => format!("{package} is not public"),
            Reach::Groups {
                groups,
                user_updates_until,
            } => {
                let mut lines = Vec::new();
                for group in groups.iter().filter(|g| !g.counts_in(self.place())) {
                    if group.grants_for(package).next().is_some() {
                        lines.push(format!(
                            "group {}: its grants count only in the sub-repositories {}",
                            group.name,
                            group.subrepos.as_deref().unwrap_or_default().join(", ")
                        ));
                    }
                }
                for group in self.groups_here(groups) {
                    let until = group.updates_until.or(*user_updates_until);
                    for grant in group.grants_for(package) {
                        let versions = grant.versions.as_deref().unwrap_or("all versions");
                        let verdict = match version {
                            None => "grants it".to_owned(),
                            Some((normalized, released_at)) => {
                                if !grant.admits(normalized) {
                                    format!("does not admit {normalized}")
                                } else if until.is_some_and(|u| released_at > u) {
                                    format!(
                                        "admits {normalized}, but it was released after the update freeze ({})",
                                        crate::time::rfc3339(until.unwrap_or(0) / 1000)
                                    )
                                } else {
                                    format!("allows {normalized}")
                                }
                            }
                        };
                        lines.push(format!(
                            "group {}: grant {} ({versions}) {verdict}",
                            group.name, grant.package
                        ));
                    }
                }
                if lines.is_empty() {
                    format!("no group of this user grants {package}")
                } else {
                    lines.join("\n")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn group(id: i64, until: Option<i64>, grants: &[(&str, Option<&str>)]) -> Group {
        Group::new(
            id,
            format!("g{id}"),
            until,
            vec![format!("mirror{id}")],
            grants.iter().map(|(p, v)| Grant::new(p, *v)).collect(),
        )
    }

    #[test]
    fn a_view_within_a_sub_repository_sees_the_intersection() {
        let set = Arc::new(PackageSet::new(
            9,
            "client-a",
            &[
                "acme/lib".to_owned(),
                "vendor/*".to_owned(),
                "acme/free".to_owned(),
            ],
        ));
        let policy = policy();
        // An admin sees the whole sub-repository and nothing outside it.
        let admin = policy
            .view(Some(&Member {
                sees_everything: true,
                ..Member::default()
            }))
            .within(set.clone());
        assert!(!admin.sees_everything());
        assert!(admin.sees_package("acme/lib") && admin.sees_all_versions_of("vendor/x"));
        assert!(!admin.sees_package("acme/tool") && !admin.sees_package("other/x"));
        // A member sees what its grants and the sub-repository both allow, constraints
        // included; public packages only when they are in it.
        let within = policy.view(Some(&member(&[1, 2]))).within(set.clone());
        assert!(within.sees_version("acme/lib", "1.2.0.0", 0));
        assert!(!within.sees_version("acme/lib", "2.0.0.0", 0));
        assert!(
            !within.sees_package("acme/tool"),
            "granted, but not in the sub-repository"
        );
        assert!(within.sees_package("acme/free"));
        let anonymous = policy.view(None).within(set.clone());
        assert!(anonymous.sees_package("acme/free"));
        assert!(!anonymous.sees_package("acme/lib"));
        // Views within different sets, or none, are cached apart.
        let other = Arc::new(PackageSet::new(10, "client-b", &["acme/lib".to_owned()]));
        let plain = policy.view(Some(&member(&[1, 2])));
        assert_ne!(plain.key(), within.key());
        assert_ne!(plain.within(other).key(), within.key());
        assert_eq!(plain.within(set).key(), within.key());
    }

    #[test]
    fn a_limited_groups_grants_and_mirrors_count_only_where_it_is_limited_to() {
        let policy = Policy::new(
            7,
            vec![
                group(1, None, &[("acme/lib", None)]).limited_to(Some(vec!["client-a".to_owned()])),
                group(2, None, &[("acme/tool", None)]),
                group(3, None, &[("acme/root-only", None)])
                    .limited_to(Some(vec![ROOT_SUB_REPOSITORY.to_owned()])),
            ],
            HashSet::from(["acme/free".to_owned()]),
        );
        let everything = ["acme/*".to_owned()];
        let client_a = Arc::new(PackageSet::new(1, "client-a", &everything));
        let client_b = Arc::new(PackageSet::new(2, "client-b", &everything));
        let root = policy.view(Some(&member(&[1, 2, 3])));
        assert!(!root.sees_package("acme/lib") && !root.may_use_mirror("mirror1"));
        assert!(root.sees_package("acme/tool") && root.sees_package("acme/root-only"));
        assert!(root.may_use_mirror("mirror2") && root.may_use_mirror("mirror3"));
        let in_a = root.within(client_a);
        assert!(in_a.sees_package("acme/lib") && in_a.may_use_mirror("mirror1"));
        assert!(in_a.sees_package("acme/tool") && !in_a.sees_package("acme/root-only"));
        assert!(
            in_a.explain("acme/root-only", None)
                .contains("only in the sub-repositories root")
        );
        let in_b = root.within(client_b);
        assert!(!in_b.sees_package("acme/lib") && !in_b.may_use_mirror("mirror1"));
        assert!(in_b.sees_package("acme/free"));
    }

    #[test]
    fn the_view_of_nothing_sees_not_even_public_packages() {
        let nothing = View::nothing(7);
        assert!(!nothing.sees_package("acme/free") && !nothing.may_use_mirror("mirror1"));
        assert!(!nothing.sees_everything());
        assert_ne!(nothing.key(), policy().view(None).key());
    }

    fn policy() -> Policy {
        Policy::new(
            7,
            vec![
                group(1, None, &[("acme/lib", Some("^1.0"))]),
                group(2, Some(10 * DAY), &[("acme/tool", None)]),
                group(3, None, &[("vendor/*", None)]),
                group(4, None, &[("acme/tool", Some("^2.0"))]),
            ],
            HashSet::from(["acme/free".to_owned()]),
        )
    }

    fn member(groups: &[i64]) -> Member {
        Member {
            groups: groups.to_vec(),
            ..Member::default()
        }
    }

    #[test]
    fn constrained_grants_show_matching_versions_only() {
        let view = policy().view(Some(&member(&[1])));
        assert!(view.sees_package("acme/lib"));
        assert!(view.sees_version("acme/lib", "1.9.0.0", 0));
        assert!(!view.sees_version("acme/lib", "2.0.0.0", 0));
        assert!(!view.sees_version("acme/lib", "dev-main", 0));
        assert!(!view.sees_all_versions_of("acme/lib"));
        assert!(!view.sees_package("acme/tool"));
        assert!(!view.sees_version("acme/tool", "1.0.0.0", 0));
    }

    #[test]
    fn cooldowns_hold_back_fresh_releases_per_group_and_for_the_caller() {
        let now = 100 * DAY;
        let release = |published_days_ago: i64| Release {
            normalized: "1.1.0.0",
            released_at: 0,
            published_at: now - published_days_ago * DAY,
            exempt: false,
        };
        let policy = Policy::new(
            1,
            vec![
                group(1, None, &[("acme/lib", None)]).with_min_release_age(Some(3 * DAY)),
                group(2, None, &[("acme/lib", Some("^1.0"))]),
                group(3, None, &[("acme/tool", None)]).with_min_release_age(Some(3 * DAY)),
            ],
            HashSet::new(),
        );
        let cautious = policy.view(Some(&member(&[1])));
        assert!(!cautious.offers("acme/lib", &release(1), now));
        assert!(cautious.offers("acme/lib", &release(4), now));
        assert!(cautious.has_release_age());
        assert!(!cautious.sees_all_versions_of("acme/lib"));
        // Another group grants the version without a cooldown: the union offers it.
        let both = policy.view(Some(&member(&[1, 2])));
        assert!(both.offers("acme/lib", &release(1), now));
        // The caller's own cooldown applies to everything, admins included.
        let mut own = member(&[2]);
        own.min_release_age = Some(2 * DAY);
        let own = policy.view(Some(&own));
        assert!(!own.offers("acme/lib", &release(1), now));
        assert!(own.offers("acme/lib", &release(3), now));
        let admin = policy.view(Some(&Member {
            sees_everything: true,
            min_release_age: Some(2 * DAY),
            ..Member::default()
        }));
        assert!(!admin.sees_everything());
        assert!(!admin.offers("acme/lib", &release(1), now));
        assert!(admin.offers(
            "acme/lib",
            &Release {
                exempt: true,
                ..release(1)
            },
            now
        ));
        assert_ne!(
            admin.key(),
            policy
                .view(Some(&Member {
                    sees_everything: true,
                    ..Member::default()
                }))
                .key()
        );
    }

    #[test]
    fn a_freeze_hides_later_releases_of_that_groups_packages_only() {
        let view = policy().view(Some(&member(&[2, 3])));
        assert!(view.sees_version("acme/tool", "1.0.0.0", 10 * DAY));
        assert!(!view.sees_version("acme/tool", "1.1.0.0", 10 * DAY + 1));
        // Group 3 has no freeze: its packages are unaffected by group 2's.
        assert!(view.sees_version("vendor/x", "9.0.0.0", 100 * DAY));
        assert!(view.sees_all_versions_of("vendor/x"));
        assert!(!view.sees_all_versions_of("acme/tool"));
    }

    #[test]
    fn the_users_freeze_applies_where_the_group_has_none() {
        let mut frozen = member(&[3]);
        frozen.updates_until = Some(5 * DAY);
        let view = policy().view(Some(&frozen));
        assert!(view.sees_version("vendor/x", "1.0.0.0", 5 * DAY));
        assert!(!view.sees_version("vendor/x", "1.0.0.0", 6 * DAY));
    }

    #[test]
    fn rights_are_the_union_of_the_groups() {
        let view = policy().view(Some(&member(&[2, 4])));
        // Group 2 (frozen) and group 4 (^2.0) both grant acme/tool.
        assert!(
            view.sees_version("acme/tool", "2.5.0.0", 100 * DAY),
            "through group 4"
        );
        assert!(
            view.sees_version("acme/tool", "1.0.0.0", DAY),
            "through group 2"
        );
        assert!(!view.sees_version("acme/tool", "1.5.0.0", 100 * DAY));
    }

    #[test]
    fn patterns_public_packages_mirrors_and_anonymous_callers() {
        let policy = policy();
        let pattern = policy.view(Some(&member(&[3])));
        assert!(pattern.sees_package("vendor/anything"));
        assert!(!pattern.sees_package("vendorx/anything"));
        assert!(
            pattern.sees_package("acme/free"),
            "public packages are seen by all"
        );
        assert!(pattern.may_use_mirror("mirror3"));
        assert!(!pattern.may_use_mirror("mirror1"));

        let nobody = policy.view(Some(&member(&[])));
        assert!(!nobody.sees_package("acme/lib"));
        assert!(nobody.sees_version("acme/free", "1.0.0.0", i64::MAX));

        let anonymous = policy.view(None);
        assert!(anonymous.sees_package("acme/free"));
        assert!(!anonymous.sees_package("vendor/x"));
        assert!(!anonymous.may_use_mirror("mirror3"));

        let admin = policy.view(Some(&Member {
            sees_everything: true,
            ..Member::default()
        }));
        assert!(admin.sees_version("acme/lib", "2.0.0.0", i64::MAX));
        assert!(admin.may_use_mirror("anything"));
    }

    #[test]
    fn compiled_patterns_match_as_composer_patterns_do() {
        for (pattern, name) in [
            ("vendor/*", "vendor/x"),
            ("vendor/*", "vendorx/x"),
            ("*/log", "psr/log"),
            ("a*b*c", "axxbyyc"),
            ("a*b*c", "axxc"),
            ("ab*ba", "aba"),
            ("psr/log", "psr/log"),
            ("*", "anything/at-all"),
        ] {
            assert_eq!(
                Pattern::new(pattern).matches(name),
                composer::package_name::pattern_matches(pattern, name),
                "{pattern} ~ {name}"
            );
        }
    }

    #[test]
    fn views_share_a_key_when_they_see_the_same() {
        let policy = policy();
        let a = policy.view(Some(&member(&[1, 3])));
        let b = policy.view(Some(&member(&[3, 1, 3])));
        let c = policy.view(Some(&member(&[1])));
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
        let later = Policy::new(8, vec![group(1, None, &[])], HashSet::new());
        assert_ne!(
            later.view(Some(&member(&[1]))).key(),
            c.key(),
            "a policy change gives new keys"
        );
    }

    #[test]
    fn explanations_name_the_grant_or_the_rule() {
        let view = policy().view(Some(&member(&[1, 2])));
        assert!(
            view.explain("acme/lib", Some(("2.0.0.0", 0)))
                .contains("grant acme/lib (^1.0) does not admit 2.0.0.0")
        );
        let frozen = view.explain("acme/tool", Some(("1.0.0.0", 11 * DAY)));
        assert!(frozen.contains("after the update freeze"), "{frozen}");
        assert!(view.explain("other/x", None).contains("no group"));
    }
}
