//! OpenLDAP's slapd (Debian's slapd), with users and groups written by ldap-utils'
//! `ldapadd`, `ldapmodify` and `ldapdelete` (Debian's ldap-utils).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Service, TempDir, free_port, unique_name};

/// Where Debian's slapd package puts slapd.
pub const SLAPD: &str = "/usr/sbin/slapd";

const BASE_DN: &str = "dc=example,dc=test";
const ADMIN_DN: &str = "cn=admin,dc=example,dc=test";
const ADMIN_PASSWORD: &str = "admin-password";
const SERVICE_DN: &str = "cn=packyard,ou=services,dc=example,dc=test";
const SERVICE_PASSWORD: &str = "service-password";
const PEOPLE_DN: &str = "ou=people,dc=example,dc=test";
const GROUPS_DN: &str = "ou=groups,dc=example,dc=test";
/// Every group's first member, so that removing the last real member leaves a valid
/// `groupOfNames` (which must have a `member`). Not a person: an `organizationalRole`.
const PLACEHOLDER_DN: &str = "cn=nobody,dc=example,dc=test";
/// ppolicy's "locked by an administrator, for good" value of `pwdAccountLockedTime`.
const LOCKED_FOR_GOOD: &str = "000001010000Z";

/// OpenLDAP's slapd on `ldap://127.0.0.1:PORT` (StartTLS too) and
/// `ldaps://127.0.0.1:PORT2`, with a certificate for 127.0.0.1 and localhost signed by
/// a throwaway CA ([`Slapd::ca_file`]). Its config (slapd.conf), database, keys and log
/// live in its own temporary directory.
///
/// The directory, under `dc=example,dc=test`:
/// - `ou=people`: users, `inetOrgPerson` named `uid=UID,ou=people,dc=example,dc=test`,
///   with `uid`, `cn` and `displayName` (a full name), `sn`, `mail` and `userPassword`
///   ({SSHA});
/// - `ou=groups`: `groupOfNames` named `cn=NAME,ou=groups,dc=example,dc=test` whose
///   `member`s are user DNs (and always `cn=nobody,dc=example,dc=test`, a placeholder
///   that is not a user, since a `groupOfNames` cannot be empty);
/// - `ou=services`: the service account [`Slapd::service_dn`], which may read everything
///   but passwords, for the application's searches;
/// - the `memberof` overlay maintains each user's `memberOf` (an operational attribute:
///   returned only when asked for by name or with `+`), and removes a deleted user from
///   its groups;
/// - the `ppolicy` overlay: a user with `pwdAccountLockedTime: 000001010000Z`
///   ([`Slapd::disable_user`]) is disabled. Its binds fail with invalidCredentials (49),
///   whatever the password, and the service account sees the attribute (operational
///   too: ask for `pwdAccountLockedTime`), so an application can filter on
///   `(!(pwdAccountLockedTime=*))`.
///
/// Bound users read the directory too (passwords aside: only their own, to change it);
/// anonymous clients may only bind. [`Slapd::start`] seeds
/// the users alice, bob and carol (passwords `alice-password`, ...; mail
/// `alice@example.test`, ...; `displayName` `Alice Example`, ...) and the groups
/// `developers` (alice, bob, carol) and `admins` (alice); carol is disabled.
pub struct Slapd {
    pub service: Service,
    ldaps_port: u16,
    dir: TempDir,
}

impl Slapd {
    /// slapd with the users and groups described on [`Slapd`].
    pub fn start() -> Slapd {
        let slapd = Slapd::start_empty();
        slapd.add_user_named(
            "alice",
            "alice-password",
            "alice@example.test",
            "Alice Example",
        );
        slapd.add_user_named("bob", "bob-password", "bob@example.test", "Bob Example");
        slapd.add_user_named(
            "carol",
            "carol-password",
            "carol@example.test",
            "Carol Example",
        );
        slapd.add_group("developers", &["alice", "bob", "carol"]);
        slapd.add_group("admins", &["alice"]);
        slapd.disable_user("carol");
        slapd
    }

    /// slapd with the organizational units, the service account and the password
    /// policy, but no user and no group.
    pub fn start_empty() -> Slapd {
        assert!(
            Path::new(SLAPD).exists(),
            "{SLAPD} does not exist: run scripts/test, which installs Debian's slapd and ldap-utils"
        );
        let dir = TempDir::new("slapd");
        let root = dir.path();
        std::fs::create_dir_all(root.join("data")).unwrap();
        generate_certificates(root);
        std::fs::write(root.join("slapd.conf"), config(root)).unwrap();
        let port = free_port();
        let ldaps_port = free_port();
        let service = Service::spawn_logged(
            "slapd",
            Command::new(SLAPD)
                .arg("-h")
                .arg(format!(
                    "ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{ldaps_port}/"
                ))
                .arg("-f")
                .arg(root.join("slapd.conf"))
                // In the foreground, logging connections, binds and results.
                .args(["-d", "stats"]),
            port,
            &root.join("slapd.log"),
        );
        let slapd = Slapd {
            service,
            ldaps_port,
            dir,
        };
        slapd.add(&base_ldif());
        slapd
    }

    /// `ldap://127.0.0.1:PORT` (plain, or StartTLS with [`Slapd::ca_file`]).
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.service.port)
    }

    /// `ldaps://127.0.0.1:PORT`, TLS from the start, with [`Slapd::ca_file`].
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps_port)
    }

    /// The PEM certificate of the CA that signed the server's (for IP 127.0.0.1 and
    /// DNS localhost).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// `dc=example,dc=test`.
    pub fn base_dn(&self) -> &'static str {
        BASE_DN
    }

    /// `ou=people,dc=example,dc=test`, where the users are.
    pub fn people_dn(&self) -> &'static str {
        PEOPLE_DN
    }

    /// `ou=groups,dc=example,dc=test`, where the groups are.
    pub fn groups_dn(&self) -> &'static str {
        GROUPS_DN
    }

    /// `uid=UID,ou=people,dc=example,dc=test`.
    pub fn user_dn(&self, uid: &str) -> String {
        format!("uid={uid},{PEOPLE_DN}")
    }

    /// `cn=GROUP,ou=groups,dc=example,dc=test`.
    pub fn group_dn(&self, group: &str) -> String {
        format!("cn={group},{GROUPS_DN}")
    }

    /// The application's account: it reads everything but passwords.
    pub fn service_dn(&self) -> &'static str {
        SERVICE_DN
    }

    pub fn service_password(&self) -> &'static str {
        SERVICE_PASSWORD
    }

    /// The rootdn, above every access rule.
    pub fn admin_dn(&self) -> &'static str {
        ADMIN_DN
    }

    pub fn admin_password(&self) -> &'static str {
        ADMIN_PASSWORD
    }

    /// Adds a user in no group, whose `cn` and `displayName` are `uid` too.
    pub fn add_user(&self, uid: &str, password: &str, mail: &str) {
        self.add_user_named(uid, password, mail, uid);
    }

    /// Adds a user in no group with `cn` and `displayName` `name`.
    pub fn add_user_named(&self, uid: &str, password: &str, mail: &str, name: &str) {
        let surname = name.rsplit(' ').next().unwrap_or(name);
        self.add(&entry(
            &self.user_dn(uid),
            &[
                ("objectClass", "inetOrgPerson"),
                ("uid", uid),
                ("cn", name),
                ("displayName", name),
                ("sn", surname),
                ("mail", mail),
                ("userPassword", &ssha(password)),
            ],
        ));
    }

    /// Adds a group with these users (uids) as members.
    pub fn add_group(&self, group: &str, uids: &[&str]) {
        let members: Vec<String> = uids.iter().map(|uid| self.user_dn(uid)).collect();
        let mut attributes = vec![
            ("objectClass", "groupOfNames"),
            ("cn", group),
            ("member", PLACEHOLDER_DN),
        ];
        attributes.extend(members.iter().map(|dn| ("member", dn.as_str())));
        self.add(&entry(&self.group_dn(group), &attributes));
    }

    pub fn add_to_group(&self, uid: &str, group: &str) {
        self.modify(&format!(
            "dn: {}\nchangetype: modify\nadd: member\nmember: {}\n",
            self.group_dn(group),
            self.user_dn(uid)
        ));
    }

    pub fn remove_from_group(&self, uid: &str, group: &str) {
        self.modify(&format!(
            "dn: {}\nchangetype: modify\ndelete: member\nmember: {}\n",
            self.group_dn(group),
            self.user_dn(uid)
        ));
    }

    pub fn delete_group(&self, group: &str) {
        self.ldap_tool("ldapdelete", &self.group_dn(group));
    }

    /// Deletes a user; the memberof overlay takes it out of its groups.
    pub fn delete_user(&self, uid: &str) {
        self.ldap_tool("ldapdelete", &self.user_dn(uid));
    }

    pub fn set_password(&self, uid: &str, password: &str) {
        self.replace(uid, "userPassword", &ssha(password));
    }

    pub fn set_mail(&self, uid: &str, mail: &str) {
        self.replace(uid, "mail", mail);
    }

    /// Locks the user for good (ppolicy's `pwdAccountLockedTime: 000001010000Z`): its
    /// binds fail as with a wrong password.
    pub fn disable_user(&self, uid: &str) {
        self.replace(uid, "pwdAccountLockedTime", LOCKED_FOR_GOOD);
    }

    /// Undoes [`Slapd::disable_user`].
    pub fn enable_user(&self, uid: &str) {
        self.modify(&format!(
            "dn: {}\nchangetype: modify\ndelete: pwdAccountLockedTime\n",
            self.user_dn(uid)
        ));
    }

    /// The DNs of the groups the user is a `member` of, from its `memberOf`.
    pub fn member_of(&self, uid: &str) -> Vec<String> {
        let ldif = self.search(&self.user_dn(uid), "(objectClass=*)", &["memberOf"]);
        let mut groups: Vec<String> = unfold(&ldif)
            .iter()
            .filter_map(|line| line.strip_prefix("memberOf: "))
            .map(str::to_owned)
            .collect();
        groups.sort();
        groups
    }

    /// `ldapsearch` as the admin (subtree): the entries in LDIF, unwrapped lines
    /// aside.
    pub fn search(&self, base: &str, filter: &str, attributes: &[&str]) -> String {
        let output = Command::new("ldapsearch")
            .args(["-LLL", "-x", "-o", "ldif-wrap=no", "-H"])
            .arg(self.url())
            .args(["-D", ADMIN_DN, "-w", ADMIN_PASSWORD, "-b", base, filter])
            .args(attributes)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running ldapsearch (Debian's ldap-utils): {e}"));
        assert!(
            output.status.success(),
            "ldapsearch -b {base} {filter}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Adds the entries of an LDIF, as the admin.
    pub fn add(&self, ldif: &str) {
        self.ldap_tool_with_input("ldapadd", ldif);
    }

    /// Applies an LDIF of changes (`changetype: ...`), as the admin.
    pub fn modify(&self, ldif: &str) {
        self.ldap_tool_with_input("ldapmodify", ldif);
    }

    /// slapd's log (`-d stats`): connections, binds and their results (`err=49`...).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    fn replace(&self, uid: &str, attribute: &str, value: &str) {
        self.modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: {attribute}\n{}",
            self.user_dn(uid),
            line(attribute, value)
        ));
    }

    fn admin_command(&self, tool: &str) -> Command {
        let mut command = Command::new(tool);
        command
            .args(["-x", "-H"])
            .arg(self.url())
            .args(["-D", ADMIN_DN, "-w", ADMIN_PASSWORD]);
        command
    }

    fn ldap_tool(&self, tool: &str, argument: &str) {
        let output = self
            .admin_command(tool)
            .arg(argument)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {tool} (Debian's ldap-utils): {e}"));
        assert!(
            output.status.success(),
            "{tool} {argument}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn ldap_tool_with_input(&self, tool: &str, ldif: &str) {
        let mut child = self
            .admin_command(tool)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running {tool} (Debian's ldap-utils): {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{tool} with\n{ldif}\n: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// slapd.conf: the schemas, the memberof and ppolicy overlays on one mdb database,
/// TLS, and the access rules.
fn config(root: &Path) -> String {
    let root = root.display();
    format!(
        r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload ppolicy
pidfile {root}/slapd.pid
argsfile {root}/slapd.args
TLSCACertificateFile {root}/ca.crt
TLSCertificateFile {root}/server.crt
TLSCertificateKeyFile {root}/server.key

database mdb
suffix "{BASE_DN}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
directory {root}/data
maxsize 67108864
dbnosync
index objectClass eq
index uid,mail,cn eq
index member,memberOf eq

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE

overlay ppolicy
ppolicy_default "cn=default,ou=policies,{BASE_DN}"
ppolicy_use_lockout

access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to *
  by dn.exact="{SERVICE_DN}" read
  by users read
  by * none
"#
    )
}

/// The organizational units, the placeholder member, the service account and the
/// default password policy (which locks nobody out for failed binds).
fn base_ldif() -> String {
    [
        entry(
            BASE_DN,
            &[
                ("objectClass", "dcObject"),
                ("objectClass", "organization"),
                ("dc", "example"),
                ("o", "example"),
            ],
        ),
        entry(
            PLACEHOLDER_DN,
            &[("objectClass", "organizationalRole"), ("cn", "nobody")],
        ),
        organizational_unit("people"),
        organizational_unit("groups"),
        organizational_unit("services"),
        organizational_unit("policies"),
        entry(
            SERVICE_DN,
            &[
                ("objectClass", "applicationProcess"),
                ("objectClass", "simpleSecurityObject"),
                ("cn", "packyard"),
                ("userPassword", &ssha(SERVICE_PASSWORD)),
            ],
        ),
        entry(
            &format!("cn=default,ou=policies,{BASE_DN}"),
            &[
                ("objectClass", "pwdPolicy"),
                ("objectClass", "device"),
                ("cn", "default"),
                ("pwdAttribute", "userPassword"),
                ("pwdLockout", "TRUE"),
            ],
        ),
    ]
    .join("\n")
}

fn organizational_unit(name: &str) -> String {
    entry(
        &format!("ou={name},{BASE_DN}"),
        &[("objectClass", "organizationalUnit"), ("ou", name)],
    )
}

/// An LDIF entry (ending with a blank line).
fn entry(dn: &str, attributes: &[(&str, &str)]) -> String {
    let mut ldif = line("dn", dn);
    for (attribute, value) in attributes {
        ldif.push_str(&line(attribute, value));
    }
    ldif.push('\n');
    ldif
}

/// `attribute: value`, or `attribute:: BASE64` when LDIF wants the value encoded.
fn line(attribute: &str, value: &str) -> String {
    use base64::Engine;
    let safe = value
        .bytes()
        .all(|byte| (0x20..0x7f).contains(&byte) && byte != b'\r' && byte != b'\n')
        && !value.starts_with([' ', ':', '<'])
        && !value.ends_with(' ');
    if safe {
        format!("{attribute}: {value}\n")
    } else {
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        format!("{attribute}:: {encoded}\n")
    }
}

/// A `{SSHA}` hash of `password`: base64 of SHA-1(password + salt) followed by the
/// 8-byte salt, as slappasswd makes them.
fn ssha(password: &str) -> String {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    let salt = &Sha1::digest(unique_name("salt").as_bytes())[..8];
    let mut hashed = Sha1::new()
        .chain_update(password.as_bytes())
        .chain_update(salt)
        .finalize()
        .to_vec();
    hashed.extend_from_slice(salt);
    format!(
        "{{SSHA}}{}",
        base64::engine::general_purpose::STANDARD.encode(hashed)
    )
}

/// The lines of an LDIF with continuation lines (a leading space) joined.
fn unfold(ldif: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in ldif.lines() {
        match (raw.strip_prefix(' '), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => lines.push(raw.to_owned()),
        }
    }
    lines
}

/// A CA and a server certificate it signs for 127.0.0.1 and localhost (P-256 keys):
/// ca.crt, server.crt and server.key in `dir`.
fn generate_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running openssl: {e}"));
        assert!(
            output.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    openssl(
        &[
            &["req", "-x509", "-nodes", "-days", "3650"][..],
            &key,
            &["-subj", "/CN=packyard test CA"],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            &["-keyout", "ca.key", "-out", "ca.crt"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req", "-nodes"][..],
            &key,
            &["-subj", "/CN=127.0.0.1"],
            &["-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
    );
    let mut extensions = String::new();
    let _ = writeln!(extensions, "subjectAltName=IP:127.0.0.1,DNS:localhost");
    let _ = writeln!(extensions, "basicConstraints=CA:FALSE");
    let _ = writeln!(extensions, "keyUsage=digitalSignature");
    let _ = writeln!(extensions, "extendedKeyUsage=serverAuth");
    std::fs::write(dir.join("server.ext"), extensions).unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "3650",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
}
