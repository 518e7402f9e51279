//! Self-tests of the OpenID Connect provider: the authorization code flow with PKCE over
//! plain HTTP, by hand and with `OidcProvider::login`, the token endpoint, userinfo, and
//! signing keys rolled over across restarts.

use std::time::Instant;

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use testkit::{OidcOptions, OidcProvider, OidcUser, unique_name};

const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

fn base64url() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

fn alice() -> OidcUser {
    OidcUser::new("alice", "alice-password")
        .with_name("Alice Example")
        .with_groups(&["developers", "admins"])
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = base64url().encode(Sha256::digest(unique_name("verifier").as_bytes()));
    let challenge = base64url().encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorization_url(provider: &OidcProvider, challenge: &str, scope: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", provider.client_id())
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("state", "the-state")
        .append_pair("nonce", "the-nonce")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("{}/auth?{query}", provider.issuer())
}

/// The query parameters of a URL.
fn query(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    query(url)
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

fn set_cookies(response: &ureq::http::Response<ureq::Body>) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap().to_owned())
        .collect()
}

fn location(response: &ureq::http::Response<ureq::Body>) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Exchanges a code at the token endpoint, authenticating with HTTP Basic or in the
/// body; the JSON answer.
fn exchange(provider: &OidcProvider, code: &str, verifier: &str, basic: bool) -> (u16, Value) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("code_verifier", verifier);
    let mut request = agent()
        .post(format!("{}/token", provider.issuer()))
        .header("Content-Type", "application/x-www-form-urlencoded");
    if basic {
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            provider.client_id(),
            provider.client_secret()
        ));
        request = request.header("Authorization", format!("Basic {credentials}"));
    } else {
        form.append_pair("client_id", provider.client_id())
            .append_pair("client_secret", provider.client_secret());
    }
    let mut response = request.send(form.finish().as_bytes()).unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap(),
    )
}

/// The header and the payload of a JWT, unverified.
fn decode_jwt(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut decode = || -> Value {
        serde_json::from_slice(&base64url().decode(parts.next().unwrap()).unwrap()).unwrap()
    };
    (decode(), decode())
}

fn get_json(url: &str) -> Value {
    let mut response = agent().get(url).call().unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

fn published_kids(provider: &OidcProvider) -> Vec<String> {
    let jwks = get_json(&format!("{}/jwks", provider.issuer()));
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| {
            assert!(key.get("d").is_none(), "a private key published: {key}");
            key["kid"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Signs alice in with `OidcProvider::login` and exchanges the code: the ID token's
/// header and payload.
fn id_token_of_a_login(provider: &OidcProvider) -> (Value, Value) {
    let (verifier, challenge) = pkce();
    let url = authorization_url(provider, &challenge, "openid email profile groups");
    let redirect = provider
        .login(&url, "alice", "alice-password")
        .unwrap_or_else(|page| panic!("login failed: {page}\n{}", provider.log()));
    let code = param(&redirect, "code").unwrap_or_else(|| panic!("no code in {redirect}"));
    let (status, tokens) = exchange(provider, &code, &verifier, true);
    assert_eq!(status, 200, "{tokens}");
    decode_jwt(tokens["id_token"].as_str().unwrap())
}

#[test]
fn authorization_code_flow_with_pkce_through_the_login_form() {
    testkit::needs!(OidcProvider);
    let started = Instant::now();
    let provider = OidcProvider::start(&[REDIRECT_URI], vec![alice()]);
    eprintln!("oidc-provider started in {:?}", started.elapsed());
    let issuer = provider.issuer();

    let discovery = get_json(&provider.discovery_url());
    assert_eq!(discovery["issuer"], issuer.as_str());
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{issuer}/auth")
    );
    assert_eq!(discovery["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(discovery["userinfo_endpoint"], format!("{issuer}/me"));
    assert_eq!(discovery["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    for scope in ["openid", "email", "profile", "groups"] {
        assert!(
            discovery["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&scope.into()),
            "{scope} in {discovery}"
        );
    }

    // The authorization request sends the browser to the login page.
    let (verifier, challenge) = pkce();
    let mut cookies: Vec<String> = Vec::new();
    let response = agent()
        .get(authorization_url(
            &provider,
            &challenge,
            "openid email profile groups",
        ))
        .call()
        .unwrap();
    assert_eq!(response.status(), 303);
    cookies.extend(set_cookies(&response));
    let interaction = format!("{issuer}{}", location(&response));
    assert!(interaction.contains("/interaction/"), "{interaction}");

    let mut response = agent()
        .get(&interaction)
        .header("Cookie", cookies.join("; "))
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    let page = response.body_mut().read_to_string().unwrap();
    let path = interaction.strip_prefix(&issuer).unwrap();
    for expected in [
        format!(r#"<form id="login" method="post" action="{path}/login""#),
        r#"name="username""#.to_owned(),
        r#"name="password" type="password""#.to_owned(),
        r#"<button id="submit" type="submit">"#.to_owned(),
    ] {
        assert!(page.contains(&expected), "{expected} in {page}");
    }

    let post = |password: &str| {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("username", "alice")
            .append_pair("password", password)
            .finish();
        agent()
            .post(format!("{interaction}/login"))
            .header("Cookie", cookies.join("; "))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(body.as_bytes())
            .unwrap()
    };
    let mut wrong = post("not-her-password");
    assert_eq!(wrong.status(), 200);
    let page = wrong.body_mut().read_to_string().unwrap();
    assert!(page.contains("Invalid username or password."), "{page}");

    let response = post("alice-password");
    assert_eq!(response.status(), 303);
    let resume = location(&response);
    assert!(resume.starts_with(&format!("{issuer}/auth/")), "{resume}");
    cookies.extend(set_cookies(&response));
    let response = agent()
        .get(&resume)
        .header("Cookie", cookies.join("; "))
        .call()
        .unwrap();
    assert_eq!(response.status(), 303);
    let callback = location(&response);
    assert!(callback.starts_with(REDIRECT_URI), "{callback}");
    assert_eq!(param(&callback, "state").as_deref(), Some("the-state"));
    assert_eq!(param(&callback, "iss").as_deref(), Some(issuer.as_str()));
    let code = param(&callback, "code").unwrap();

    // With another verifier, no token; with the right one, tokens, once.
    let (status, error) = exchange(
        &provider,
        &code,
        "another-verifier-of-43-characters-or-more-0000",
        true,
    );
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, tokens) = exchange(&provider, &code, &verifier, true);
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let (header, claims) = decode_jwt(tokens["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], provider.signing_kid());
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["aud"], "packyard");
    assert_eq!(claims["sub"], "id-alice");
    assert_eq!(claims["nonce"], "the-nonce");
    assert_eq!(claims["email"], "alice@example.test");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["name"], "Alice Example");
    assert_eq!(
        claims["groups"],
        serde_json::json!(["developers", "admins"])
    );

    let access_token = tokens["access_token"].as_str().unwrap();
    let (status, userinfo) = get_userinfo(&provider, access_token);
    assert_eq!(status, 200, "{userinfo}");
    assert_eq!(userinfo["sub"], "id-alice");
    assert_eq!(
        userinfo["groups"],
        serde_json::json!(["developers", "admins"])
    );

    // A code used twice is refused, and what it gave is revoked.
    let (status, error) = exchange(&provider, &code, &verifier, true);
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(get_userinfo(&provider, access_token).0, 401);
}

/// The userinfo endpoint's status and JSON answer.
fn get_userinfo(provider: &OidcProvider, access_token: &str) -> (u16, Value) {
    let mut response = agent()
        .get(format!("{}/me", provider.issuer()))
        .header("Authorization", format!("Bearer {access_token}"))
        .call()
        .unwrap();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&body).unwrap())
}

#[test]
fn login_helper_client_secret_post_and_users_changed_while_running() {
    testkit::needs!(OidcProvider);
    let bob = OidcUser::new("bob", "bob-password").with_email("bob@elsewhere.test", false);
    let mut provider = OidcProvider::start_with(OidcOptions {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        token_endpoint_auth_method: "client_secret_post".to_owned(),
        users: vec![alice(), bob.clone()],
        ..OidcOptions::default()
    });

    // PKCE is required: the provider sends the error back to the client.
    let url = authorization_url(&provider, "x", "openid")
        .replace("&code_challenge=x&code_challenge_method=S256", "");
    let redirect = provider.login(&url, "bob", "bob-password").unwrap();
    assert_eq!(
        param(&redirect, "error").as_deref(),
        Some("invalid_request")
    );

    let (verifier, challenge) = pkce();
    let url = authorization_url(&provider, &challenge, "openid email groups");
    let refused = provider.login(&url, "bob", "alice-password").unwrap_err();
    assert!(
        refused.page.contains("Invalid username or password."),
        "{refused}"
    );
    let redirect = provider.login(&url, "bob", "bob-password").unwrap();
    let code = param(&redirect, "code").unwrap();
    let (status, tokens) = exchange(&provider, &code, &verifier, false);
    assert_eq!(status, 200, "{tokens}");
    let (_, claims) = decode_jwt(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["email"], "bob@elsewhere.test");
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["groups"], serde_json::json!([]));
    // Only the scopes asked for: no profile, no name.
    assert!(claims.get("name").is_none(), "{claims}");

    // Users change at once, without a restart.
    provider.set_users(vec![bob.with_groups(&["ops"])]);
    let (verifier, challenge) = pkce();
    let url = authorization_url(&provider, &challenge, "openid email groups");
    let redirect = provider.login(&url, "bob", "bob-password").unwrap();
    let code = param(&redirect, "code").unwrap();
    let (_, tokens) = exchange(&provider, &code, &verifier, false);
    let (_, claims) = decode_jwt(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["groups"], serde_json::json!(["ops"]));
    let refused = provider.login(&url, "alice", "alice-password").unwrap_err();
    assert!(
        refused.page.contains("Invalid username or password."),
        "{refused}"
    );

    // prompt=consent shows the consent form, which login() accepts.
    let (verifier, challenge) = pkce();
    let url = format!(
        "{}&prompt=consent",
        authorization_url(&provider, &challenge, "openid email")
    );
    let redirect = provider.login(&url, "bob", "bob-password").unwrap();
    let code = param(&redirect, "code").unwrap();
    let (status, _) = exchange(&provider, &code, &verifier, false);
    assert_eq!(status, 200);
}

#[test]
fn signing_keys_roll_over_across_restarts() {
    testkit::needs!(OidcProvider);
    let key_a = OidcProvider::generate_key("key-a");
    let mut provider = OidcProvider::start_with(OidcOptions {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        users: vec![alice()],
        keys: vec![key_a.clone()],
        ..OidcOptions::default()
    });
    let issuer = provider.issuer();
    assert_eq!(published_kids(&provider), ["key-a"]);
    let (header, _) = id_token_of_a_login(&provider);
    assert_eq!(header["kid"], "key-a");

    let key_b = OidcProvider::generate_key("key-b");
    let started = Instant::now();
    provider.restart_with_keys(vec![key_b.clone(), key_a]);
    eprintln!("oidc-provider restarted in {:?}", started.elapsed());
    assert_eq!(provider.issuer(), issuer, "the same port after a restart");
    assert_eq!(published_kids(&provider), ["key-b", "key-a"]);
    let (header, claims) = id_token_of_a_login(&provider);
    assert_eq!(header["kid"], "key-b");
    assert_eq!(claims["iss"], issuer.as_str());

    provider.restart_with_keys(vec![key_b]);
    assert_eq!(published_kids(&provider), ["key-b"]);

    let key_c = provider.rotate_key();
    assert_eq!(provider.signing_kid(), key_c["kid"].as_str().unwrap());
    assert_eq!(published_kids(&provider), [provider.signing_kid(), "key-b"]);

    provider.stop();
    let refused = agent().get(&provider.discovery_url()).call();
    assert!(refused.is_err(), "a stopped provider answers");
    provider.restart();
    assert_eq!(
        get_json(&provider.discovery_url())["issuer"],
        issuer.as_str()
    );
}

/// A client's redirect URI that a browser can load: a thread answering every request
/// on 127.0.0.1 with an empty page, for the test process's life. Its URL.
fn serve_callback() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/callback", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
                line.clear();
            }
            let body = "<!doctype html><title>callback</title>";
            let _ = write!(
                reader.get_mut(),
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn headless_chromium_signs_in_through_the_login_page() {
    use testkit::browser::Browser;
    testkit::needs!(OidcProvider, Chromium);
    let callback = serve_callback();
    let provider = OidcProvider::start(&[callback.as_str()], vec![alice()]);
    let (_, challenge) = pkce();
    let url = authorization_url(&provider, &challenge, "openid email profile groups").replace(
        &form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect::<String>(),
        &form_urlencoded::byte_serialize(callback.as_bytes()).collect::<String>(),
    );
    let browser = Browser::start();
    browser.goto(&url);
    assert_eq!(browser.title(), "Sign in");
    browser.find("#username").send_keys("alice");
    browser.find("#password").send_keys("wrong");
    browser.find("#submit").click();
    let error = browser.wait_for("#error", std::time::Duration::from_secs(10));
    assert_eq!(error.text(), "Invalid username or password.");
    // The form keeps the username.
    browser.find("#password").send_keys("alice-password");
    browser.find("#submit").click();
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while !browser.current_url().starts_with(&callback) {
        assert!(
            Instant::now() < deadline,
            "still at {}: {}",
            browser.current_url(),
            browser.page_source()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let landed = browser.current_url();
    assert!(param(&landed, "code").is_some(), "{landed}");
    assert_eq!(param(&landed, "state").as_deref(), Some("the-state"));

    // Signed in, the next authorization request skips the login page.
    browser.goto(&url);
    assert!(browser.current_url().starts_with(&callback));
    // RP-initiated logout asks, then signs out: the login page is back.
    browser.goto(&format!("{}/session/end", provider.issuer()));
    browser.find("#logout").click();
    browser.wait_for("body", std::time::Duration::from_secs(5));
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while browser.title() != "Signed out" {
        assert!(Instant::now() < deadline, "{}", browser.page_source());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    browser.goto(&url);
    assert_eq!(browser.title(), "Sign in");
}
