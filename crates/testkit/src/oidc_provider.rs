//! A real OpenID Connect provider: panva's oidc-provider (npm, major version 8) run by
//! `assets/oidc/provider.mjs` with one confidential client, users from a JSON file and
//! signing keys from a JWKS file, both written by the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Service, TempDir, free_port, request, required_tool};

/// The variable naming the node_modules directory holding oidc-provider.
const VARIABLE: &str = "PACKYARD_TEST_OIDC_PROVIDER";

/// The launcher script, from this crate's sources (not from the installed package).
fn launcher() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/oidc/provider.mjs")
}

/// A user of the provider: `id` is the `sub` claim, `username` and `password` what its
/// login form takes. The other fields are the claims of the same names
/// (`preferred_username` is `username`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcUser {
    pub id: String,
    pub username: String,
    pub password: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub groups: Vec<String>,
}

impl OidcUser {
    /// `username` with `sub` `id-USERNAME`, the verified address `USERNAME@example.test`,
    /// the name `USERNAME` and no groups.
    pub fn new(username: &str, password: &str) -> OidcUser {
        OidcUser {
            id: format!("id-{username}"),
            username: username.to_owned(),
            password: password.to_owned(),
            email: format!("{username}@example.test"),
            email_verified: true,
            name: username.to_owned(),
            groups: Vec::new(),
        }
    }

    pub fn with_id(mut self, id: &str) -> OidcUser {
        id.clone_into(&mut self.id);
        self
    }

    pub fn with_email(mut self, email: &str, verified: bool) -> OidcUser {
        email.clone_into(&mut self.email);
        self.email_verified = verified;
        self
    }

    pub fn with_name(mut self, name: &str) -> OidcUser {
        name.clone_into(&mut self.name);
        self
    }

    pub fn with_groups(mut self, groups: &[&str]) -> OidcUser {
        self.groups = groups.iter().map(|&group| group.to_owned()).collect();
        self
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "username": self.username,
            "password": self.password,
            "email": self.email,
            "email_verified": self.email_verified,
            "name": self.name,
            "groups": self.groups,
        })
    }
}

/// What an [`OidcProvider`] starts with. `Default`: the client `packyard` with the
/// secret `packyard-test-secret` authenticating with `client_secret_basic`, no redirect
/// URI, no user, and one generated key.
#[derive(Debug, Clone)]
pub struct OidcOptions {
    pub client_id: String,
    pub client_secret: String,
    /// The client's registered redirect URIs, compared exactly.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout (`/session/end`) may send the user back to.
    pub post_logout_redirect_uris: Vec<String>,
    /// `client_secret_basic` or `client_secret_post`, as registered. oidc-provider
    /// takes either method at the token endpoint whichever is registered: this only
    /// changes the client's metadata.
    pub token_endpoint_auth_method: String,
    pub users: Vec<OidcUser>,
    /// Private JWKs, as from [`OidcProvider::generate_key`]: the first signs, every one
    /// is published at `/jwks`. Empty: one key generated at start.
    pub keys: Vec<Value>,
}

impl Default for OidcOptions {
    fn default() -> OidcOptions {
        OidcOptions {
            client_id: "packyard".to_owned(),
            client_secret: "packyard-test-secret".to_owned(),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            token_endpoint_auth_method: "client_secret_basic".to_owned(),
            users: Vec::new(),
            keys: Vec::new(),
        }
    }
}

/// panva's oidc-provider on `http://127.0.0.1:PORT` (the issuer, exactly, without a
/// trailing slash), with one confidential client that must use the authorization code
/// flow with PKCE (S256).
///
/// Scopes `openid`, `email` (`email`, `email_verified`), `profile` (`name`,
/// `preferred_username`), `groups` (`groups`, an array of strings) and
/// `offline_access`; the claims of the requested scopes are in the ID token as well as
/// from the userinfo endpoint. Consent is implied (never asked unless the request says
/// `prompt=consent`). The authorization response carries `iss` (RFC 9207).
///
/// Its login page, at `/interaction/UID`, is a form `#login` posting `username` and
/// `password` to `/interaction/UID/login` (submit button `#submit`); a wrong password
/// shows the form again with `#error`. `#cancel` links to `/interaction/UID/abort`,
/// which ends in `error=access_denied`. RP-initiated logout (`end_session_endpoint`,
/// `/session/end`) asks for confirmation: button `#logout` signs out. Sessions, codes
/// and tokens live in memory: a restart forgets them. A code used twice is refused and
/// revokes the tokens it gave.
pub struct OidcProvider {
    pub service: Service,
    options: OidcOptions,
    dir: TempDir,
}

impl OidcProvider {
    /// The default client (see [`OidcOptions`]) with these redirect URIs and users.
    pub fn start(redirect_uris: &[&str], users: Vec<OidcUser>) -> OidcProvider {
        OidcProvider::start_with(OidcOptions {
            redirect_uris: redirect_uris.iter().map(|&uri| uri.to_owned()).collect(),
            users,
            ..OidcOptions::default()
        })
    }

    pub fn start_with(mut options: OidcOptions) -> OidcProvider {
        let dir = TempDir::new("oidc-provider");
        if options.keys.is_empty() {
            options.keys.push(OidcProvider::generate_key("key-1"));
        }
        let port = free_port();
        write_json(&dir.path().join("users.json"), &users_json(&options.users));
        let service = spawn(dir.path(), port, &options);
        OidcProvider {
            service,
            options,
            dir,
        }
    }

    /// A new private RSA key as a JWK (`kid`, `alg` RS256, `use` sig), made by Node.js.
    pub fn generate_key(kid: &str) -> Value {
        let modules = required_tool(VARIABLE, "oidc-provider");
        let output = Command::new("node")
            .arg(launcher())
            .args(["generate-key", kid])
            .env(VARIABLE, modules)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running node: {e}"));
        assert!(
            output.status.success(),
            "node provider.mjs generate-key: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("a JWK from provider.mjs")
    }

    /// `http://127.0.0.1:PORT`, the `iss` of its tokens.
    pub fn issuer(&self) -> String {
        self.service.url()
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer())
    }

    pub fn port(&self) -> u16 {
        self.service.port
    }

    pub fn client_id(&self) -> &str {
        &self.options.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.options.client_secret
    }

    pub fn redirect_uris(&self) -> &[String] {
        &self.options.redirect_uris
    }

    /// The private JWKs it signs with (the first) and publishes (all).
    pub fn keys(&self) -> &[Value] {
        &self.options.keys
    }

    /// The `kid` of the key that signs.
    pub fn signing_kid(&self) -> &str {
        self.options.keys[0]["kid"].as_str().expect("a kid")
    }

    /// Replaces the users, at once and without a restart: the next login and the next
    /// claims lookup (token, userinfo) read them. A user whose `id` is gone has no
    /// account anymore: its session no longer counts and it must sign in again.
    pub fn set_users(&mut self, users: Vec<OidcUser>) {
        write_json(&self.dir.path().join("users.json"), &users_json(&users));
        self.options.users = users;
    }

    pub fn users(&self) -> &[OidcUser] {
        &self.options.users
    }

    /// Restarts on the same port signing with `keys[0]` and publishing all of them,
    /// e.g. `[B, A]` to roll from key A to key B, then `[B]` to retire A.
    pub fn restart_with_keys(&mut self, keys: Vec<Value>) {
        assert!(
            !keys.is_empty(),
            "an OIDC provider needs a key to sign with"
        );
        self.options.keys = keys;
        self.restart();
    }

    /// Generates a key (`kid` `key-N`), restarts signing with it and still publishing
    /// the previous ones; returns the new key.
    pub fn rotate_key(&mut self) -> Value {
        let key = OidcProvider::generate_key(&format!("key-{}", self.options.keys.len() + 1));
        let mut keys = vec![key.clone()];
        keys.extend(self.options.keys.iter().cloned());
        self.restart_with_keys(keys);
        key
    }

    /// Restarts on the same port with these redirect URIs for the client.
    pub fn set_redirect_uris(&mut self, redirect_uris: &[&str]) {
        self.options.redirect_uris = redirect_uris.iter().map(|&uri| uri.to_owned()).collect();
        self.restart();
    }

    /// Kills the provider: connections are refused until [`OidcProvider::restart`].
    pub fn stop(&mut self) {
        self.service.kill();
    }

    /// Starts it again on the same port (after [`OidcProvider::stop`] or not), with what
    /// it knows of its client, users and keys, and nothing of its sessions and tokens.
    pub fn restart(&mut self) {
        self.service.kill();
        self.service = spawn(self.dir.path(), self.service.port, &self.options);
    }

    /// What the provider printed: warnings, server errors.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("provider.log")).unwrap_or_default()
    }

    /// Signs `username` in through the provider's login page, as a browser without
    /// JavaScript would: from `authorization_url` (what the client redirected to), it
    /// follows the provider's redirects with its cookies, posts the login form (and
    /// the consent form if one is shown), and returns the first redirect that leaves
    /// the provider, unfollowed: the client's redirect URI with `code`, `state` and
    /// `iss`, or with `error`. [`NotSignedIn`] holds the page shown instead, such as
    /// the login form again with "Invalid username or password." or an error page.
    pub fn login(
        &self,
        authorization_url: &str,
        username: &str,
        password: &str,
    ) -> Result<String, NotSignedIn> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let issuer = self.issuer();
        let mut cookies = CookieJar::default();
        let mut url = authorization_url.to_owned();
        let mut posted_login = false;
        for _ in 0..20 {
            let mut response = agent
                .get(&url)
                .header("Cookie", cookies.header())
                .call()
                .unwrap_or_else(|e| panic!("GET {url}: {e}"));
            cookies.store(&response);
            let status = response.status().as_u16();
            let redirect = location(&response, &issuer);
            let body = response.body_mut().read_to_string().unwrap_or_default();
            if let Some(location) = redirect {
                if !location.starts_with(&format!("{issuer}/")) {
                    return Ok(location);
                }
                url = location;
                continue;
            }
            if status != 200 || !url.contains("/interaction/") {
                return Err(NotSignedIn { page: body });
            }
            let (action, form): (&str, Vec<(&str, &str)>) = if body.contains("id=\"login\"") {
                if posted_login {
                    return Err(NotSignedIn { page: body });
                }
                posted_login = true;
                (
                    "login",
                    vec![("username", username), ("password", password)],
                )
            } else if body.contains("id=\"consent\"") {
                ("confirm", Vec::new())
            } else {
                return Err(NotSignedIn { page: body });
            };
            let form_url = format!("{}/{action}", url.split('?').next().unwrap_or(&url));
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish();
            let mut response = agent
                .post(&form_url)
                .header("Cookie", cookies.header())
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(encoded.as_bytes())
                .unwrap_or_else(|e| panic!("POST {form_url}: {e}"));
            cookies.store(&response);
            match location(&response, &issuer) {
                Some(location) if location.starts_with(&format!("{issuer}/")) => url = location,
                Some(location) => return Ok(location),
                None => {
                    let page = response.body_mut().read_to_string().unwrap_or_default();
                    return Err(NotSignedIn { page });
                }
            }
        }
        panic!("signing in at {authorization_url}: more than 20 redirects")
    }
}

/// A sign-in at the provider that did not lead back to the client: the page the
/// provider showed instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSignedIn {
    pub page: String,
}

impl std::fmt::Display for NotSignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the provider showed a page instead: {}", self.page)
    }
}

impl std::error::Error for NotSignedIn {}

fn users_json(users: &[OidcUser]) -> Value {
    Value::Array(users.iter().map(OidcUser::to_json).collect())
}

/// Writes a file whole, through a rename: the provider reads users.json while it runs.
fn write_json(path: &Path, value: &Value) {
    let temporary = path.with_extension("json.new");
    std::fs::write(&temporary, serde_json::to_vec_pretty(value).unwrap())
        .unwrap_or_else(|e| panic!("writing {}: {e}", temporary.display()));
    std::fs::rename(&temporary, path)
        .unwrap_or_else(|e| panic!("renaming to {}: {e}", path.display()));
}

/// Writes the config and the JWKS of `options` into `dir` (users.json is written on its
/// own), starts provider.mjs on `port` and waits until its discovery document answers.
fn spawn(dir: &Path, port: u16, options: &OidcOptions) -> Service {
    let modules = required_tool(VARIABLE, "oidc-provider");
    write_json(&dir.join("jwks.json"), &json!({ "keys": options.keys }));
    write_json(
        &dir.join("config.json"),
        &json!({
            "port": port,
            "client": {
                "client_id": options.client_id,
                "client_secret": options.client_secret,
                "redirect_uris": options.redirect_uris,
                "post_logout_redirect_uris": options.post_logout_redirect_uris,
                "token_endpoint_auth_method": options.token_endpoint_auth_method,
            },
            "users_file": dir.join("users.json"),
            "jwks_file": dir.join("jwks.json"),
        }),
    );
    let service = Service::spawn_logged(
        "oidc-provider",
        Command::new("node")
            .arg(launcher())
            .arg("serve")
            .arg(dir.join("config.json"))
            .env(VARIABLE, modules),
        port,
        &dir.join("provider.log"),
    );
    let discovery = format!("{}/.well-known/openid-configuration", service.url());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = request("GET", &discovery, &[]);
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{discovery} answers {status}: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    service
}

/// The `Location` of a redirect, made absolute against `base`.
fn location(response: &ureq::http::Response<ureq::Body>, base: &str) -> Option<String> {
    if !response.status().is_redirection() {
        return None;
    }
    let location = response.headers().get("location")?.to_str().ok()?;
    Some(if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location.to_owned()
    })
}

/// The cookies of one host, sent on every request whatever their path (the provider
/// scopes its interaction cookies by path, and extra cookies do not bother it).
#[derive(Default)]
struct CookieJar(Vec<(String, String)>);

impl CookieJar {
    fn store(&mut self, response: &ureq::http::Response<ureq::Body>) {
        for header in response.headers().get_all("set-cookie") {
            let Ok(header) = header.to_str() else {
                continue;
            };
            let pair = header.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            self.0.retain(|(existing, _)| existing != name);
            let expired = value.is_empty() || header.to_ascii_lowercase().contains("1970");
            if !expired {
                self.0.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}
