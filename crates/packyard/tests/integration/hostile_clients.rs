//! Clients that try to hold the server rather than use it: connections that send
//! nothing, headers a byte at a time, bodies declared large and then stalled or
//! trickled, answers never read, headers too large, anonymous bodies where credentials
//! are needed. Each is cut or refused by `PACKYARD_CLIENT_TIMEOUT` and the limits of
//! `http::client_limits`, while the real `composer` goes on installing.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use zip::write::SimpleFileOptions;

/// The size of the archive the non-reading clients ask for: more than the socket
/// buffers of both ends hold, so the server's writes block.
const BIG_ARCHIVE: usize = 24 << 20;

/// What the server under attack is given as `PACKYARD_CLIENT_TIMEOUT`.
const TIMEOUT: Duration = Duration::from_secs(2);

/// How a hostile client behaves once connected.
#[derive(Clone, Copy, Debug)]
enum Attack {
    /// Connects and sends nothing.
    Silent,
    /// Sends a request header one byte every 300 ms (it would take minutes).
    SlowHeader,
    /// Declares a 60 KB body for an anonymous route, sends 1000 bytes, then nothing.
    StalledBody,
    /// Sends an admin's upload at 100 bytes a second.
    TricklingBody,
    /// Asks for a large archive and never reads the answer.
    NeverReads,
}

/// One connection of `attack` against `host`: returns how long the server took to
/// close it, or `None` if it was still open after `give_up`.
fn attack_once(attack: Attack, host: &str, request: &str, give_up: Duration) -> Option<Duration> {
    let mut stream = TcpStream::connect(host).expect("connecting");
    let started = Instant::now();
    let mut trickle: &[u8] = b"";
    let mut pause = Duration::from_millis(300);
    match attack {
        Attack::Silent => {}
        Attack::SlowHeader => {
            trickle = b"GET /packages.json HTTP/1.1\r\nHost: repo\r\nX-Slow: yes\r\n";
        }
        Attack::StalledBody => {
            let head = "POST /downloads/ HTTP/1.1\r\nHost: repo\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n";
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&[b' '; 1000]);
        }
        Attack::TricklingBody | Attack::NeverReads => {
            let _ = stream.write_all(request.as_bytes());
            if matches!(attack, Attack::TricklingBody) {
                trickle = &[b'x'; 4096];
                pause = Duration::from_millis(10);
            }
        }
    }
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    if matches!(attack, Attack::NeverReads) {
        // Not reading while the server should give up; then reading what the socket
        // buffers hold: an answer cut short ends before its length.
        std::thread::sleep(TIMEOUT + Duration::from_millis(1500));
        let mut received = 0usize;
        let mut buffer = vec![0u8; 1 << 16];
        while started.elapsed() < give_up {
            match stream.read(&mut buffer) {
                Ok(0) => return (received < BIG_ARCHIVE).then(|| started.elapsed()),
                Ok(n) => received += n,
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return Some(started.elapsed()),
            }
        }
        return None;
    }
    let mut next_byte = Instant::now();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < give_up {
        if !trickle.is_empty() && Instant::now() >= next_byte {
            if stream.write_all(&trickle[..1]).is_err() {
                return Some(started.elapsed());
            }
            trickle = &trickle[1..];
            next_byte = Instant::now() + pause;
        }
        match stream.read(&mut buffer) {
            Ok(0) => return Some(started.elapsed()),
            // An answer (a 408 or 400 for the cut body): the close follows.
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

/// An archive of `acme/big` with `size` bytes of incompressible data, stored as is.
fn big_archive(size: usize) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    writer.start_file("big/composer.json", options).unwrap();
    writer
        .write_all(br#"{"name":"acme/big","type":"library","license":"MIT"}"#)
        .unwrap();
    writer.start_file("big/data.bin", options).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut data = Vec::with_capacity(size);
    while data.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    writer.write_all(&data).unwrap();
    writer.finish().unwrap().into_inner()
}

#[test]
fn five_hundred_stalled_connections_are_cut_while_composer_installs() {
    // Public, so that anonymous clients reach the routes that read bodies.
    let server = Server::start_with(&[("PACKYARD_CLIENT_TIMEOUT", "2s"), ("PUBLIC_ACCESS", "1")]);
    let token = server.add_user("admin", true);
    let reply = upload(
        &server,
        &token,
        "acme/lib",
        "1.0.0",
        &package_zip("acme/lib", &[], "one"),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let reply = upload(
        &server,
        &token,
        "acme/big",
        "1.0.0",
        &big_archive(BIG_ARCHIVE),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let dist =
        p2_documents(&p2(&server, "admin", &token, "acme/big"), "acme/big")[0]["dist"]["url"]
            .as_str()
            .unwrap()
            .to_owned();
    let dist_path = dist.split_once(server.host()).unwrap().1.to_owned();
    let auth = basic("admin", &token);
    let download =
        format!("GET {dist_path} HTTP/1.1\r\nHost: repo\r\nAuthorization: {auth}\r\n\r\n");
    let trickled_upload = format!(
        "PUT /api/packages/upload/acme/slow/1.0.0 HTTP/1.1\r\nHost: repo\r\nAuthorization: {auth}\r\nContent-Length: 1048576\r\n\r\n"
    );
    // Warm up what a normal request touches, then take the baseline.
    assert_eq!(
        get(&server.url("/packages.json"), &[("Authorization", &auth)]).status,
        200
    );
    let baseline = server.rss();

    let attacks = [
        (Attack::Silent, 120),
        (Attack::SlowHeader, 120),
        (Attack::StalledBody, 120),
        (Attack::TricklingBody, 130),
        (Attack::NeverReads, 10),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let give_up = TIMEOUT * 3 + Duration::from_secs(2);
    let mut attackers = Vec::new();
    for (attack, count) in attacks {
        for _ in 0..count {
            let host = server.host().to_owned();
            let request = match attack {
                Attack::NeverReads => download.clone(),
                _ => trickled_upload.clone(),
            };
            let stop = stop.clone();
            let attacker = std::thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    // Each attacker comes back as soon as it is cut, for as long as the
                    // install runs: the attack is sustained, not one wave.
                    let mut cut_after = Vec::new();
                    loop {
                        let closed = attack_once(attack, &host, &request, give_up);
                        cut_after.push(closed);
                        if closed.is_none() || stop.load(Ordering::Relaxed) {
                            return (attack, cut_after);
                        }
                    }
                })
                .unwrap();
            attackers.push(attacker);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let during = server.rss();

    let project = ComposerProject::new(&server, "admin", &token);
    let started = Instant::now();
    let output = project.run(&["require", "acme/lib:^1.0", "--no-audit"]);
    let install = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert!(output.status.success(), "{}", output_text(&output));
    assert!(project.installed_file("acme/lib/src/Lib.php").is_some());

    let mut connections = 0;
    let mut slowest = Duration::ZERO;
    for attacker in attackers {
        let (attack, cut_after) = attacker.join().unwrap();
        for closed in cut_after {
            connections += 1;
            let closed = closed.unwrap_or_else(|| {
                panic!("a {attack:?} connection was still open after {give_up:?}")
            });
            // A header or a stall is cut after one timeout; a trickle when its window
            // ends (up to two); a blocked write after one, once the buffers are full.
            assert!(
                closed <= TIMEOUT * 3,
                "a {attack:?} connection took {closed:?}"
            );
            slowest = slowest.max(closed);
        }
    }
    assert!(connections >= 500, "{connections} connections");
    std::thread::sleep(Duration::from_millis(500));
    let after = server.rss();
    eprintln!(
        "{connections} hostile connections, slowest cut after {slowest:?}; composer install took {install:?}; \
         RSS {} MiB before, {} MiB during, {} MiB after",
        baseline >> 20,
        during >> 20,
        after >> 20
    );
    assert!(
        after <= baseline + (16 << 20),
        "RSS grew from {} MiB to {} MiB",
        baseline >> 20,
        after >> 20
    );
    // Nothing the attackers sent was taken for an upload.
    assert_eq!(p2(&server, "admin", &token, "acme/slow").status, 404);
}

/// Writes `head` (a whole request header) and returns the status line of the answer.
fn status_line(host: &str, head: &[u8]) -> String {
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // The server may answer and close before it has read everything: a failed write
    // after that is not the test's concern.
    let _ = stream.write_all(head);
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn oversized_headers_get_431_and_anonymous_bodies_are_refused_before_they_are_read() {
    let server = Server::start_with(&[("PACKYARD_CLIENT_TIMEOUT", "5s"), ("PUBLIC_ACCESS", "1")]);
    let padding = |size: usize| "a".repeat(size);
    let just_under = format!(
        "GET /healthz HTTP/1.1\r\nHost: repo\r\nX-Padding: {}\r\n\r\n",
        padding(60 * 1024)
    );
    assert!(status_line(server.host(), just_under.as_bytes()).contains(" 200 "));
    let over = format!(
        "GET /healthz HTTP/1.1\r\nHost: repo\r\nX-Padding: {}\r\n\r\n",
        padding(200 * 1024)
    );
    let answer = status_line(server.host(), over.as_bytes());
    assert!(answer.contains(" 431 "), "{answer:?}");

    // An anonymous token request declaring a large body: refused from its header alone,
    // long before the client timeout would cut the body that never comes.
    let started = Instant::now();
    let answer = status_line(
        server.host(),
        b"POST /api/tokens HTTP/1.1\r\nHost: repo\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n",
    );
    assert!(answer.contains(" 401 "), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // The anonymous routes that read bodies take at most 64 KiB.
    let big = vec![b' '; 256 * 1024];
    let reply = post(
        &server.url("/downloads/"),
        &[("Content-Type", "application/json")],
        &big,
    );
    assert_eq!(reply.status, 413, "{}", reply.text());
    // The login form refuses a declared length over 64 KiB before reading any of it
    // (which a client still writing its body may see as a reset):
    // `web_forms_answer_anonymous_clients_before_reading_their_bodies` reads its answer
    // from a socket that sends no body.
}

/// Every route of the web UI that takes a form (parametrised ones with sample values).
const WEB_FORM_ROUTES: &[&str] = &[
    "/logout",
    "/profile/tokens",
    "/profile/tokens/revoke",
    "/packages/acme/lib/update",
    "/packages/acme/lib/delete",
    "/admin/packages",
    "/admin/packages/upload",
    "/admin/mirrors/partner/approve",
    "/admin/mirrors/partner/forget",
    "/admin/storage",
    "/admin/users",
    "/admin/users/alice",
    "/admin/users/alice/remove",
    "/admin/groups",
    "/admin/groups/staff/grants",
    "/admin/groups/staff/grants/revoke",
    "/admin/groups/staff/settings",
    "/admin/groups/staff/members",
    "/admin/groups/staff/remove",
];

/// Writes the header of a POST to `path` declaring a 2,000,000-byte form body, sends no
/// byte of the body, and returns the status line of the answer and how long it took.
fn declared_form(host: &str, path: &str, cookie: &str) -> (String, Duration) {
    let started = Instant::now();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 2000000\r\n{cookie}\r\n"
    );
    let answer = status_line(host, head.as_bytes());
    (answer, started.elapsed())
}

#[test]
fn web_forms_answer_anonymous_clients_before_reading_their_bodies() {
    // The client timeout is long: an answer that waited for the body would come late.
    let server = Server::start_with(&[("PACKYARD_CLIENT_TIMEOUT", "30s")]);
    let quick = Duration::from_secs(3);
    for path in WEB_FORM_ROUTES {
        for cookie in ["", "Cookie: packyard_session=not-a-session\r\n"] {
            let (answer, took) = declared_form(server.host(), path, cookie);
            assert!(
                answer.contains(" 303 "),
                "{path} {cookie:?}: {answer:?} (to the login page)"
            );
            assert!(took < quick, "{path}: answered after {took:?}");
        }
    }
    // The login form: without the cookie its page set, refused at once; with it, the
    // declared length is refused at once.
    let (answer, took) = declared_form(server.host(), "/login", "");
    assert!(answer.contains(" 403 "), "{answer:?}");
    assert!(took < quick, "answered after {took:?}");
    let csrf_cookie = login_form(&server, &[]).1;
    let (answer, took) = declared_form(
        server.host(),
        "/login",
        &format!("Cookie: {csrf_cookie}\r\n"),
    );
    assert!(answer.contains(" 413 "), "{answer:?}");
    assert!(took < quick, "answered after {took:?}");
    // So does another site's page posting it, cookie or not.
    let (answer, took) = declared_form(
        server.host(),
        "/login",
        &format!("Cookie: {csrf_cookie}\r\nOrigin: https://attacker.example\r\n"),
    );
    assert!(answer.contains(" 403 "), "{answer:?}");
    assert!(took < quick, "answered after {took:?}");
}
