//! A real HTTP receiver for outgoing webhooks: it records every request (headers and
//! body) and answers each with the next status of its script (200 once the script is
//! used up), so tests can make deliveries fail and watch the retries arrive.

use std::collections::VecDeque;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::upstream::read_request;

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<u16>,
    received: Vec<Received>,
}

pub struct HookReceiver {
    address: SocketAddr,
    state: Arc<(Mutex<State>, Condvar)>,
}

const MAX_BODY: u64 = 1024 * 1024;

impl HookReceiver {
    /// Listens on 127.0.0.1 and answers `script`'s statuses in turn, then 200.
    pub fn start(script: &[u16]) -> HookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the hook receiver");
        let address = listener.local_addr().unwrap();
        let state = Arc::new((
            Mutex::new(State {
                script: script.iter().copied().collect(),
                received: Vec::new(),
            }),
            Condvar::new(),
        ));
        let shared = state.clone();
        std::thread::Builder::new()
            .name("hook-receiver".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let shared = shared.clone();
                    std::thread::spawn(move || serve(stream, &shared));
                }
            })
            .expect("spawning the hook receiver");
        HookReceiver { address, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.0.lock().unwrap().received.clone()
    }

    /// Waits until `count` requests have arrived; panics with what came after `limit`.
    pub fn wait_for(&self, count: usize, limit: Duration) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        let (lock, arrived) = &*self.state;
        let mut state = lock.lock().unwrap();
        while state.received.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the hook receiver got {} of {count} requests within {limit:?}",
                state.received.len()
            );
            state = arrived.wait_timeout(state, left).unwrap().0;
        }
        state.received.clone()
    }
}

fn serve(stream: TcpStream, state: &(Mutex<State>, Condvar)) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    let Ok(request) = read_request(&mut reader) else {
        return;
    };
    let length = request
        .header("content-length")
        .and_then(|l| l.parse::<u64>().ok())
        .unwrap_or(0)
        .min(MAX_BODY);
    let mut body = Vec::new();
    if reader.by_ref().take(length).read_to_end(&mut body).is_err() {
        return;
    }
    let (lock, arrived) = state;
    let status = {
        let mut state = lock.lock().unwrap();
        let status = state.script.pop_front().unwrap_or(200);
        state.received.push(Received {
            method: request.method.clone(),
            path: request.target.clone(),
            headers: request.headers.clone(),
            body,
            answered: status,
        });
        status
    };
    arrived.notify_all();
    let answer = format!("answer {status} from the test receiver");
    let _ = write!(
        writer,
        "HTTP/1.1 {status} Status\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
}
