//! Self-tests of OpenLDAP's slapd: binds with ldap-utils' `ldapwhoami` (plain, StartTLS
//! and ldaps), `memberOf` kept by the overlay as groups change, disabled users, and what
//! the service account and anonymous clients may read.

use std::process::{Command, Output, Stdio};
use std::time::Instant;

use testkit::Slapd;

fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"))
}

/// `ldapwhoami` bound as `dn`: the DN it reports, or the error.
fn whoami(
    slapd: &Slapd,
    url: &str,
    dn: &str,
    password: &str,
    start_tls: bool,
) -> Result<String, String> {
    let mut command = Command::new("ldapwhoami");
    command
        .args(["-x", "-H", url, "-D", dn, "-w", password])
        .env("LDAPTLS_CACERT", slapd.ca_file());
    if start_tls {
        command.arg("-ZZ");
    }
    let output = run(&mut command);
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// `ldapsearch` bound as `dn` (anonymous when `None`): the LDIF found.
fn search_as(
    slapd: &Slapd,
    bind: Option<(&str, &str)>,
    filter: &str,
    attributes: &[&str],
) -> String {
    let mut command = Command::new("ldapsearch");
    command
        .args(["-LLL", "-x", "-o", "ldif-wrap=no", "-H"])
        .arg(slapd.url())
        .args(["-b", slapd.base_dn(), filter])
        .args(attributes);
    if let Some((dn, password)) = bind {
        command.args(["-D", dn, "-w", password]);
    }
    let output = run(&mut command);
    // noSuchObject (32): the base itself is out of sight.
    assert!(
        output.status.success() || output.status.code() == Some(32),
        "ldapsearch {filter}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn users_bind_and_member_of_follows_the_groups() {
    testkit::needs!(Slapd);
    let started = Instant::now();
    let slapd = Slapd::start();
    eprintln!("slapd started and seeded in {:?}", started.elapsed());
    let alice = slapd.user_dn("alice");
    let developers = slapd.group_dn("developers");
    let admins = slapd.group_dn("admins");

    assert_eq!(
        whoami(&slapd, &slapd.url(), &alice, "alice-password", false),
        Ok(format!("dn:{alice}"))
    );
    let wrong = whoami(&slapd, &slapd.url(), &alice, "bob-password", false).unwrap_err();
    assert!(wrong.contains("Invalid credentials (49)"), "{wrong}");
    // TLS: ldaps and StartTLS, trusting the test CA.
    assert_eq!(
        whoami(&slapd, &slapd.ldaps_url(), &alice, "alice-password", false),
        Ok(format!("dn:{alice}"))
    );
    assert_eq!(
        whoami(&slapd, &slapd.url(), &alice, "alice-password", true),
        Ok(format!("dn:{alice}"))
    );
    assert!(slapd.ca_file().exists());

    // The service account searches, and reads memberOf when asked for it.
    let service = Some((slapd.service_dn(), slapd.service_password()));
    let found = search_as(
        &slapd,
        service,
        "(&(objectClass=inetOrgPerson)(uid=alice))",
        &["uid", "mail", "displayName", "memberOf", "userPassword"],
    );
    assert!(found.contains(&format!("dn: {alice}\n")), "{found}");
    assert!(found.contains("mail: alice@example.test\n"), "{found}");
    assert!(found.contains("displayName: Alice Example\n"), "{found}");
    assert!(
        found.contains(&format!("memberOf: {developers}\n")),
        "{found}"
    );
    assert!(found.contains(&format!("memberOf: {admins}\n")), "{found}");
    assert!(
        !found.contains("userPassword"),
        "the service account reads passwords: {found}"
    );
    // Anonymous clients find nothing; bound users search as the service account does.
    assert_eq!(search_as(&slapd, None, "(uid=alice)", &["uid"]).trim(), "");
    let own = search_as(
        &slapd,
        Some((&alice, "alice-password")),
        "(uid=alice)",
        &["uid", "memberOf", "userPassword"],
    );
    assert!(
        own.starts_with(&format!("dn: {alice}\nuid: alice\n")),
        "{own}"
    );
    assert!(own.contains(&format!("memberOf: {admins}\n")), "{own}");
    let bobs = search_as(
        &slapd,
        Some((&alice, "alice-password")),
        "(uid=bob)",
        &["uid", "userPassword"],
    );
    assert_eq!(
        bobs.trim(),
        format!("dn: {}\nuid: bob", slapd.user_dn("bob"))
    );

    assert_eq!(
        slapd.member_of("alice"),
        [admins.as_str(), developers.as_str()]
    );
    slapd.remove_from_group("alice", "developers");
    assert_eq!(slapd.member_of("alice"), [admins.as_str()]);
    slapd.remove_from_group("alice", "admins");
    assert!(slapd.member_of("alice").is_empty());
    slapd.add_to_group("alice", "developers");
    assert_eq!(slapd.member_of("alice"), [developers.as_str()]);

    slapd.add_user("dave", "dave-password", "dave@example.test");
    slapd.add_group("ops", &["dave"]);
    slapd.add_to_group("dave", "developers");
    assert_eq!(slapd.member_of("dave"), [developers, slapd.group_dn("ops")]);
    assert_eq!(
        whoami(
            &slapd,
            &slapd.url(),
            &slapd.user_dn("dave"),
            "dave-password",
            false
        ),
        Ok(format!("dn:{}", slapd.user_dn("dave")))
    );
    slapd.set_password("dave", "new-password");
    assert!(
        whoami(
            &slapd,
            &slapd.url(),
            &slapd.user_dn("dave"),
            "dave-password",
            false
        )
        .is_err()
    );
    assert!(
        whoami(
            &slapd,
            &slapd.url(),
            &slapd.user_dn("dave"),
            "new-password",
            false
        )
        .is_ok()
    );

    // A deleted user leaves its groups.
    slapd.delete_user("dave");
    let members = slapd.search(&slapd.group_dn("ops"), "(objectClass=*)", &["member"]);
    assert!(!members.contains("uid=dave"), "{members}");
    let err = whoami(
        &slapd,
        &slapd.url(),
        &slapd.user_dn("dave"),
        "new-password",
        false,
    )
    .unwrap_err();
    assert!(err.contains("Invalid credentials (49)"), "{err}");
}

#[test]
fn a_disabled_user_cannot_bind_and_the_service_account_sees_it() {
    testkit::needs!(Slapd);
    let slapd = Slapd::start();
    let carol = slapd.user_dn("carol");

    // carol is seeded disabled: her own password fails like a wrong one.
    let refused = whoami(&slapd, &slapd.url(), &carol, "carol-password", false).unwrap_err();
    assert!(refused.contains("Invalid credentials (49)"), "{refused}");
    let service = Some((slapd.service_dn(), slapd.service_password()));
    let disabled = search_as(&slapd, service, "(pwdAccountLockedTime=*)", &["uid"]);
    assert_eq!(disabled.trim(), format!("dn: {carol}\nuid: carol"));
    let enabled = search_as(
        &slapd,
        service,
        "(&(objectClass=inetOrgPerson)(!(pwdAccountLockedTime=*)))",
        &["uid"],
    );
    assert!(
        enabled.contains("uid: alice") && enabled.contains("uid: bob"),
        "{enabled}"
    );
    assert!(!enabled.contains("carol"), "{enabled}");
    // Still a member of her groups.
    assert_eq!(slapd.member_of("carol"), [slapd.group_dn("developers")]);

    slapd.enable_user("carol");
    assert_eq!(
        whoami(&slapd, &slapd.url(), &carol, "carol-password", false),
        Ok(format!("dn:{carol}"))
    );
    slapd.disable_user("bob");
    assert!(
        whoami(
            &slapd,
            &slapd.url(),
            &slapd.user_dn("bob"),
            "bob-password",
            false
        )
        .is_err()
    );
    // Failed binds lock nobody out.
    for _ in 0..5 {
        assert!(whoami(&slapd, &slapd.url(), &carol, "wrong", false).is_err());
    }
    assert!(whoami(&slapd, &slapd.url(), &carol, "carol-password", false).is_ok());
    assert!(slapd.log().contains("err=49"), "{}", slapd.log());
}
