//! Signing in with GitHub (`type: github`, an OAuth app), against a stand-in of
//! github.com's OAuth endpoints and REST API (GitHub cannot run here): the authorize
//! redirect with `state`, the code exchange with the app's credentials, and the user,
//! its verified primary address, organizations and teams read with the token. The
//! stand-in checks what GitHub checks: the client's credentials, the code, the token.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use crate::common::*;

const CLIENT_ID: &str = "Iv1.packyard";
const CLIENT_SECRET: &str = "github-app-secret";
const CODE: &str = "code-for-octo-alice";
const TOKEN: &str = "gho_octoalicetoken";

/// What the stand-in answers `method path` with `headers` and `body`: a status, extra
/// headers and a JSON body.
fn answer(
    method: &str,
    target: &str,
    headers: &str,
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .map(|value| packyard::percent::decode(value, packyard::percent::Plus::Space))
    };
    let bearer = headers.lines().any(|line| {
        line.to_ascii_lowercase() == format!("authorization: bearer {}", TOKEN.to_ascii_lowercase())
    });
    let json = |status: u16, value: serde_json::Value| (status, Vec::new(), value.to_string());
    match (method, path) {
        ("GET", "/login/oauth/authorize") => {
            // The user approves at once; the code goes back with the state.
            assert_eq!(param("client_id").as_deref(), Some(CLIENT_ID));
            let redirect = param("redirect_uri").unwrap();
            let state = param("state").unwrap();
            let location = format!("{redirect}?code={CODE}&state={state}");
            (302, vec![("Location".into(), location)], String::new())
        }
        ("POST", "/login/oauth/access_token") => {
            use base64::Engine;
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
            let authorized = headers
                .lines()
                .any(|line| line.eq_ignore_ascii_case(&format!("authorization: Basic {basic}")));
            if !authorized {
                // GitHub answers 200 with an error, as here.
                return json(
                    200,
                    serde_json::json!({"error": "incorrect_client_credentials"}),
                );
            }
            if !body.contains(&format!("code={CODE}")) {
                return json(200, serde_json::json!({"error": "bad_verification_code"}));
            }
            json(
                200,
                serde_json::json!({"access_token": TOKEN, "token_type": "bearer", "scope": "read:user,user:email,read:org"}),
            )
        }
        ("GET", _) if !bearer => json(401, serde_json::json!({"message": "Bad credentials"})),
        ("GET", "/api/v3/user") => json(
            200,
            serde_json::json!({"id": 4242, "login": "octo-alice", "email": null}),
        ),
        ("GET", "/api/v3/user/emails") => json(
            200,
            serde_json::json!([
                {"email": "old@example.test", "primary": false, "verified": true},
                {"email": "alice@example.test", "primary": true, "verified": true},
            ]),
        ),
        ("GET", "/api/v3/user/orgs") => json(
            200,
            serde_json::json!([{"login": "acme"}, {"login": "hobby"}]),
        ),
        ("GET", "/api/v3/user/teams") => json(
            200,
            serde_json::json!([
                {"slug": "platform", "organization": {"login": "acme"}},
            ]),
        ),
        _ => json(404, serde_json::json!({"message": "Not Found"})),
    }
}

/// The stand-in, on a free port of 127.0.0.1; its base URL.
fn stand_in() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                let mut headers = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    headers.push_str(line.trim_end());
                    headers.push('\n');
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).ok();
                let mut parts = request_line.split_whitespace();
                let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let (status, extra, body) =
                    answer(method, target, &headers, &String::from_utf8_lossy(&body));
                let mut response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (name, value) in extra {
                    response += &[name.as_str(), ": ", value.as_str(), "\r\n"].concat();
                }
                response.push_str("\r\n");
                response.push_str(&body);
                let mut stream = stream;
                stream.write_all(response.as_bytes()).ok();
            });
        }
    });
    base
}

#[test]
fn a_github_user_signs_in_with_its_organizations_and_teams_as_groups() {
    let github = stand_in();
    let dir = TempDir::new("sso-github-config");
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "login:\n  gh:\n    type: github\n    title: GitHub\n    base_url: {github}\n    client_id: {CLIENT_ID}\n    client_secret_env: TEST_GITHUB_SECRET\n    allow_register: true\n    required_groups: [acme]\n    groups: {{acme/platform: [devs]}}\n"
        ),
    )
    .unwrap();
    let server = Server::start_with(&[
        ("PACKYARD_CONFIG", &path.display().to_string()),
        ("TEST_GITHUB_SECRET", CLIENT_SECRET),
    ]);
    server.cli_ok(&["group", "add", "devs"]);

    let started = get(&server.url("/login/gh"), &[]);
    assert_eq!(started.status, 303, "{}", started.text());
    let authorize = started.headers["location"].to_str().unwrap().to_owned();
    assert!(
        authorize.starts_with(&format!("{github}/login/oauth/authorize?")),
        "{authorize}"
    );
    let binding = started
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("packyard_sso="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap();
    let approved = get(&authorize, &[]);
    assert_eq!(approved.status, 302);
    let callback = approved.headers["location"].to_str().unwrap().to_owned();
    let done = get(&callback, &[("Cookie", &binding)]);
    assert_eq!(done.status, 303, "{}", done.text());
    let users = server.cli_ok(&["user", "list"]);
    assert!(
        users
            .lines()
            .any(|l| l.starts_with("user octo-alice\t") && l.contains("groups: devs\tsign-in: gh")),
        "{users}"
    );
    let replayed = get(&callback, &[("Cookie", &binding)]);
    assert_eq!(replayed.status, 400, "{}", replayed.text());
    let listed = server.cli_ok(&["login", "list"]);
    assert!(
        listed.contains("gh\tgithub\tGitHub\tcallback URL https://HOST/login/gh/callback"),
        "{listed}"
    );
}
