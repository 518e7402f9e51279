//! The service's rules, in process on a temporary SQLite database.

use super::*;
use crate::auth::Verified;
use crate::db::{Role, UserChange, testing};
use crate::tokens::{Scope, Scopes};

struct World {
    db: Db,
    access: Access,
    auth: Authenticator,
    _dir: testing::TempDir,
}

impl World {
    async fn new() -> World {
        let (db, dir) = testing::sqlite().await;
        World {
            access: Access::load(db.clone()).await.unwrap(),
            auth: Authenticator::new(db.clone()),
            db,
            _dir: dir,
        }
    }

    fn admin(&self) -> AccessAdmin<'_> {
        let root_host = Some("repo.example".to_owned());
        AccessAdmin::new(&self.db, &self.access, &self.auth, ["up", "eu"], root_host)
    }

    /// A user made by the operator; its first token.
    async fn user(&self, name: &str, role: Role) -> (User, String) {
        let new = NewUser {
            name: name.to_owned(),
            change: UserChange {
                role: Some(role),
                ..UserChange::default()
            },
            token: Some(crate::tokens::Scopes(None)),
            ..NewUser::default()
        };
        let (user, token) = self
            .admin()
            .create_user(Actor::Operator, new)
            .await
            .unwrap();
        (user, token.expect("a first token was asked for"))
    }

    async fn verify(&self, token: &str) -> Verified {
        self.auth.verify("", token).await.unwrap()
    }
}

fn role(role: Role) -> UserUpdate {
    UserUpdate {
        change: UserChange {
            role: Some(role),
            ..UserChange::default()
        },
        ..UserUpdate::default()
    }
}

fn grant(package: &str, versions: Option<&str>) -> NewGrant {
    NewGrant {
        package: package.to_owned(),
        versions: versions.map(str::to_owned),
    }
}

#[tokio::test]
async fn over_http_an_admin_changes_neither_itself_nor_other_admins_in_any_way() {
    let world = World::new().await;
    let admin = world.admin();
    let (root, _) = world.user("root", Role::Admin).await;
    world.user("second", Role::Admin).await;
    world.user("plain", Role::User).await;
    admin
        .create_group(Actor::Operator, "licensed", GroupSettings::default())
        .await
        .unwrap();
    let me = Actor::Http(&root);
    for target in ["second", "root"] {
        let refusals = [
            admin.change_user(me, target, role(Role::User)).await.err(),
            admin.remove_user(me, target).await.err(),
            admin
                .set_password(me, target, Some("taken over at last".into()))
                .await
                .err(),
            admin.add_member(me, "licensed", target).await.err(),
            admin.remove_member(me, "licensed", target).await.err(),
        ];
        for refused in refusals {
            assert!(
                matches!(&refused, Some(AdminError::Forbidden(m)) if m.contains("packyard CLI")),
                "{target}: {refused:?}"
            );
        }
    }
    // Nobody is made an admin over HTTP, neither new nor existing.
    let minted = NewUser {
        name: "minted".into(),
        change: role(Role::Admin).change,
        ..NewUser::default()
    };
    assert!(matches!(
        admin.create_user(me, minted).await,
        Err(AdminError::Forbidden(_))
    ));
    assert!(matches!(
        admin.change_user(me, "plain", role(Role::Admin)).await,
        Err(AdminError::Forbidden(_))
    ));
    assert!(matches!(
        admin.user(Key::Name("minted")).await,
        Err(AdminError::NotFound(_))
    ));
    // Other users are the admin's to manage.
    let plain = admin
        .change_user(me, "plain", role(Role::Maintainer))
        .await
        .unwrap();
    assert!(plain.is_maintainer && !plain.is_admin);
    admin.add_member(me, "licensed", "plain").await.unwrap();
    // The operator may do all of it.
    admin
        .change_user(Actor::Operator, "second", role(Role::User))
        .await
        .unwrap();
    admin
        .add_member(Actor::Operator, "licensed", "root")
        .await
        .unwrap();
    let members = admin.group(Key::Name("licensed")).await.unwrap().members;
    assert_eq!(members, ["plain", "root"]);
}

#[tokio::test]
async fn users_and_groups_are_for_admins_over_http() {
    let world = World::new().await;
    let admin = world.admin();
    let (maintainer, _) = world.user("maintainer", Role::Maintainer).await;
    world.user("plain", Role::User).await;
    let me = Actor::Http(&maintainer);
    let refusals = [
        admin.remove_user(me, "plain").await.err(),
        admin
            .create_group(me, "g", GroupSettings::default())
            .await
            .err(),
        admin.set_public(me, "acme/lib", true).await.err(),
        admin
            .create_user(
                me,
                NewUser {
                    name: "new".into(),
                    ..NewUser::default()
                },
            )
            .await
            .err(),
    ];
    for refused in refusals {
        assert!(
            matches!(refused, Some(AdminError::Forbidden(_))),
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn changes_apply_to_this_process_at_once() {
    let world = World::new().await;
    let admin = world.admin();
    let (root, root_token) = world.user("root", Role::Admin).await;
    let (carol, carol_token) = world.user("carol", Role::User).await;
    let me = Actor::Http(&root);
    let view = || world.access.view(Some(&carol));
    assert!(!view().sees_package("acme/lib"));
    admin
        .create_group(me, "licensed", GroupSettings::default())
        .await
        .unwrap();
    admin
        .grant(me, "licensed", grant("acme/lib", Some("^1.0")))
        .await
        .unwrap();
    admin.add_member(me, "licensed", "carol").await.unwrap();
    // No refresh in between: the next request of this process sees the grant.
    assert!(view().sees_version("acme/lib", "1.2.0.0", 0));
    assert!(!view().sees_version("acme/lib", "2.0.0.0", 0));
    admin.revoke(me, "licensed", "acme/lib").await.unwrap();
    assert!(!view().sees_package("acme/lib"));

    // Verified credentials are forgotten with every change: an expired account, a
    // revoked token fail on the next request.
    assert!(matches!(
        world.verify(&carol_token).await,
        Verified::Caller(_)
    ));
    let expire = UserUpdate {
        change: UserChange {
            expires_at: Some(Some(1)),
            ..UserChange::default()
        },
        ..UserUpdate::default()
    };
    admin.change_user(me, "carol", expire).await.unwrap();
    assert!(matches!(
        world.verify(&carol_token).await,
        Verified::Expired(_)
    ));
    let new = NewToken {
        name: "laptop".into(),
        scopes: Scopes(None),
        expires_at: None,
        min_release_age: None,
    };
    let laptop = admin.issue_token(me, "root", &new).await.unwrap();
    assert!(matches!(world.verify(&laptop).await, Verified::Caller(_)));
    assert!(matches!(
        world.verify(&root_token).await,
        Verified::Caller(_)
    ));
    admin.revoke_token(me, "root", "laptop").await.unwrap();
    assert_eq!(world.verify(&laptop).await, Verified::Invalid);
}

#[tokio::test]
async fn tokens_are_issued_one_way_and_over_http_only_to_their_owner() {
    let world = World::new().await;
    let admin = world.admin();
    let (root, _) = world.user("root", Role::Admin).await;
    let (carol, _) = world.user("carol", Role::User).await;
    let ci = NewToken {
        name: "ci".into(),
        scopes: Scopes(Some(vec![Scope::Metadata])),
        expires_at: Some(crate::db::now_millis() + 86_400_000),
        min_release_age: None,
    };
    // The operator issues carol's token as carol would issue it herself.
    let by_operator = admin
        .issue_token(Actor::Operator, "carol", &ci)
        .await
        .unwrap();
    let own = NewToken {
        name: "own".into(),
        ..ci.clone()
    };
    let by_herself = admin
        .issue_token(Actor::Http(&carol), "carol", &own)
        .await
        .unwrap();
    for token in [&by_operator, &by_herself] {
        assert!(crate::tokens::is_well_formed(token), "{token}");
        let Verified::Caller(principal) = world.verify(token).await else {
            panic!("{token} verifies");
        };
        assert_eq!(principal.user.name, "carol");
        assert_eq!(principal.token.scopes, ci.scopes);
        assert_eq!(principal.token.expires_at, ci.expires_at);
    }
    let listed: Vec<String> = admin
        .tokens_of(Actor::Operator, "carol")
        .await
        .unwrap()
        .into_iter()
        .map(|token| token.name)
        .collect();
    assert_eq!(listed, ["ci", "default", "own"]);

    // Over HTTP, nobody issues, lists or revokes another's tokens, not even an admin.
    let me = Actor::Http(&root);
    assert!(matches!(
        admin.issue_token(me, "carol", &ci).await,
        Err(AdminError::Forbidden(_))
    ));
    assert!(matches!(
        admin.tokens_of(me, "carol").await,
        Err(AdminError::Forbidden(_))
    ));
    assert!(matches!(
        admin.revoke_token(me, "carol", "ci").await,
        Err(AdminError::Forbidden(_))
    ));
    // Admin-only scopes go on admins' tokens only, whoever issues them.
    let users = NewToken {
        name: "root".into(),
        scopes: Scopes(Some(vec![Scope::Users])),
        expires_at: None,
        min_release_age: None,
    };
    for actor in [Actor::Operator, Actor::Http(&carol)] {
        assert!(matches!(
            admin.issue_token(actor, "carol", &users).await,
            Err(AdminError::Forbidden(_))
        ));
    }
    admin.issue_token(me, "root", &users).await.unwrap();
    // Names: checked, unique per owner.
    let bad = NewToken {
        name: "a b".into(),
        ..ci.clone()
    };
    assert!(matches!(
        admin.issue_token(Actor::Operator, "carol", &bad).await,
        Err(AdminError::Invalid(_))
    ));
    assert!(matches!(
        admin.issue_token(Actor::Operator, "carol", &ci).await,
        Err(AdminError::Conflict(m)) if m == "carol already has a token named ci"
    ));
    assert!(matches!(
        admin.issue_token(Actor::Operator, "nobody", &ci).await,
        Err(AdminError::NotFound(_))
    ));
    assert!(matches!(
        admin.revoke_token(Actor::Operator, "carol", "nope").await,
        Err(AdminError::NotFound(_))
    ));
}

#[tokio::test]
async fn input_is_checked_before_anything_is_stored() {
    let world = World::new().await;
    let admin = world.admin();
    let op = Actor::Operator;
    // A password too short: no user.
    let short = NewUser {
        name: "dave".into(),
        password: Some("short".into()),
        ..NewUser::default()
    };
    assert!(matches!(
        admin.create_user(op, short).await,
        Err(AdminError::Invalid(_))
    ));
    assert!(admin.user(Key::Name("dave")).await.is_err());
    for name in ["", "-x", "a b"] {
        let new = NewUser {
            name: name.into(),
            ..NewUser::default()
        };
        assert!(matches!(
            admin.create_user(op, new).await,
            Err(AdminError::Invalid(_))
        ));
    }
    world.user("dave", Role::User).await;
    let again = NewUser {
        name: "dave".into(),
        ..NewUser::default()
    };
    assert!(matches!(
        admin.create_user(op, again).await,
        Err(AdminError::Conflict(_))
    ));

    // Groups: a bad grant or an unknown mirror refuses the whole group.
    for settings in [
        GroupSettings {
            grants: Some(vec![grant("acme/lib", Some("^^"))]),
            ..GroupSettings::default()
        },
        GroupSettings {
            grants: Some(vec![grant("not a name", None)]),
            ..GroupSettings::default()
        },
        GroupSettings {
            mirrors: Some(vec!["up".into(), "typo".into()]),
            ..GroupSettings::default()
        },
    ] {
        let refused = admin.create_group(op, "g", settings).await;
        assert!(
            matches!(refused, Err(AdminError::Invalid(_))),
            "{refused:?}"
        );
    }
    assert!(admin.group(Key::Name("g")).await.is_err());
    assert!(matches!(
        admin
            .create_group(op, "a:b", GroupSettings::default())
            .await,
        Err(AdminError::Invalid(_))
    ));
    let settings = GroupSettings {
        mirrors: Some(vec!["up".into()]),
        grants: Some(vec![grant("Acme/Lib", None), grant("vendor/*", Some("^2"))]),
        updates_until: Some(Some(86_400_000)),
        min_release_age: None,
        subrepos: None,
    };
    let group = admin.create_group(op, "g", settings).await.unwrap();
    assert_eq!(group.mirrors, ["up"]);
    assert_eq!(group.updates_until, Some(86_400_000));
    assert_eq!(
        group.grants,
        [
            ("acme/lib".to_owned(), None),
            ("vendor/*".to_owned(), Some("^2".to_owned()))
        ]
    );
    assert!(matches!(
        admin.create_group(op, "g", GroupSettings::default()).await,
        Err(AdminError::Conflict(_))
    ));
    // Grants name lowercase packages, whoever typed them.
    let given = admin
        .grant(op, "g", grant("Acme/Other", None))
        .await
        .unwrap();
    assert_eq!(given.package, "acme/other");
    admin.revoke(op, "g", "ACME/OTHER").await.unwrap();
    assert!(matches!(
        admin.revoke(op, "g", "acme/other").await,
        Err(AdminError::NotFound(_))
    ));
    assert!(matches!(
        admin.grant(op, "nope", grant("acme/lib", None)).await,
        Err(AdminError::NotFound(_))
    ));
    assert!(matches!(
        admin.add_member(op, "nope", "dave").await,
        Err(AdminError::NotFound(m)) if m == "no group named nope"
    ));
    assert!(matches!(
        admin.add_member(op, "g", "nobody").await,
        Err(AdminError::NotFound(m)) if m == "no user named nobody"
    ));
    let unchanged = admin
        .change_group(
            op,
            "g",
            GroupSettings {
                mirrors: Some(vec!["elsewhere".into()]),
                ..GroupSettings::default()
            },
        )
        .await;
    assert!(matches!(unchanged, Err(AdminError::Invalid(_))));
    assert_eq!(admin.group(Key::Name("g")).await.unwrap().mirrors, ["up"]);
}

#[tokio::test]
async fn sub_repositories_are_checked_kept_tidy_and_changed_in_place() {
    use crate::access::subrepos::SubRepositoryChange;
    use crate::db::SubRepositoryFields;
    let world = World::new().await;
    let (admin, op) = (world.admin(), Actor::Operator);
    let fields = |name: &str, packages: &[&str], hosts: &[&str]| SubRepositoryFields {
        name: name.into(),
        packages: packages.iter().map(|p| (*p).to_owned()).collect(),
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        ..SubRepositoryFields::default()
    };
    let client_a = SubRepositoryFields {
        mirrors: vec!["up".into(), "eu".into(), "up".into()],
        ..fields("Client A", &["acme/b", "acme/a"], &["a.example"])
    };
    let row = admin
        .add_sub_repository(op, "client-a", client_a)
        .await
        .unwrap();
    assert_eq!(row.packages, ["acme/a", "acme/b"]);
    assert_eq!(row.mirrors, ["up", "eu"], "in the order given, once");
    let refused = |result: Result<_, AdminError>| match result {
        Err(error) => error.to_string(),
        Ok(_) => panic!("accepted"),
    };
    let add = |slug: &'static str, fields| admin.add_sub_repository(op, slug, fields);
    assert!(refused(add("client-a", fields("Again", &[], &[])).await).contains("already exists"));
    assert!(refused(add("api", fields("Api", &[], &[])).await).contains("a path packyard serves"));
    assert!(
        refused(add("root", fields("Root", &[], &[])).await).contains("a path packyard serves")
    );
    assert!(refused(add("b", fields(" ", &[], &[])).await).contains("needs a name"));
    assert!(
        refused(add("b", fields("B", &["Not A Name"], &[])).await).contains("neither a package")
    );
    assert!(refused(add("b", fields("B", &[], &["a.example"])).await).contains("already belongs"));
    assert!(refused(add("b", fields("B", &[], &["B.Example"])).await).contains("invalid host"));
    for root in ["repo.example", "10.0.0.1"] {
        assert!(
            refused(add("b", fields("B", &[], &[root])).await).contains("the root repository's"),
            "{root}"
        );
    }
    assert!(refused(add("all", fields("All", &[], &[])).await).contains("a path packyard serves"));
    let huge = fields("B", &[], &[]);
    let huge = SubRepositoryFields {
        packages: (0..10_001).map(|i| format!("acme/p{i}")).collect(),
        ..huge
    };
    assert!(refused(add("b", huge).await).contains("at most 10000 package entries"));
    let unknown_mirror = SubRepositoryFields {
        mirrors: vec!["nope".into()],
        ..fields("B", &[], &[])
    };
    assert_eq!(
        refused(add("b", unknown_mirror).await),
        "no mirror is named \"nope\": they are eu, up"
    );
    let changed = admin
        .change_sub_repository(
            op,
            "client-a",
            SubRepositoryChange {
                add_packages: vec!["tools/*".into(), "acme/a".into()],
                remove_packages: vec!["acme/b".into()],
                mirrors: Some(vec![]),
                ..SubRepositoryChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.packages, ["acme/a", "tools/*"]);
    assert_eq!(changed.name, "Client A");
    assert!(changed.mirrors.is_empty());
    // Over HTTP, only admins manage them.
    let (plain, _) = world.user("plain", Role::User).await;
    assert!(matches!(
        admin
            .remove_sub_repository(Actor::Http(&plain), "client-a")
            .await,
        Err(AdminError::Forbidden(_))
    ));
    admin.remove_sub_repository(op, "client-a").await.unwrap();
    assert!(matches!(
        admin.remove_sub_repository(op, "client-a").await,
        Err(AdminError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_new_user_gets_a_token_only_when_asked_and_never_beyond_its_role() {
    let world = World::new().await;
    let admin = world.user("root", Role::Admin).await.0;
    let me = Actor::Http(&admin);
    let plain = |name: &str, token: Option<Scopes>| NewUser {
        name: name.to_owned(),
        token,
        ..NewUser::default()
    };
    let (_, token) = world
        .admin()
        .create_user(me, plain("carol", None))
        .await
        .unwrap();
    assert_eq!(token, None);
    assert!(
        world
            .db
            .tokens_of("carol")
            .await
            .unwrap()
            .unwrap()
            .is_empty()
    );
    let metadata = Scopes(Some(vec![Scope::Metadata]));
    let (_, token) = world
        .admin()
        .create_user(me, plain("dave", Some(metadata.clone())))
        .await
        .unwrap();
    let token = token.expect("asked for");
    assert!(matches!(world.verify(&token).await, Verified::Caller(_)));
    let tokens = world.db.tokens_of("dave").await.unwrap().unwrap();
    assert_eq!(tokens[0].scopes, metadata);
    let refused = world
        .admin()
        .create_user(me, plain("erin", Some(Scopes(Some(vec![Scope::Users])))))
        .await;
    assert!(
        matches!(refused, Err(AdminError::Forbidden(_))),
        "{refused:?}"
    );
    assert!(
        world.db.tokens_of("erin").await.unwrap().is_none(),
        "no half-made user"
    );
}
