#!/usr/bin/env bash
# Memory of packyard while CONNECTIONS anonymous clients post to the web UI's logout
# form, each declaring a body of DECLARED bytes and sending all of it but the last
# 4 KiB, then holding the connection (issue 23: the form body used to be read before
# the session was checked, up to axum's 2 MB). Prints the idle RSS, the peak RSS while
# the connections are open (VmHWM after resetting it) and the difference, and how the
# connections were answered.
#
#   bench/web_forms.sh [CONNECTIONS] [DECLARED] [HOLD_SECONDS]
#
# Target: the peak within 64 MiB of idle.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
CONNECTIONS=${1:-300}
DECLARED=${2:-2000000}
HOLD=${3:-5}

build_packyard
make_workdir web-forms

export PACKYARD_DATA_DIR=$WORK/data PACKYARD_LISTEN=127.0.0.1:0 RUST_LOG=warn
start_packyard
# Warm up what a form post touches (routing, the session lookup, the error page).
curl -fsS -o /dev/null "$BASE/login"
curl -sS -o /dev/null -d csrf=x "$BASE/logout"
sleep 1

rss_kib() { awk "/^$1:/ {print \$2}" "/proc/$SERVER/status"; }
IDLE=$(rss_kib VmRSS)
echo 5 > "/proc/$SERVER/clear_refs"   # resets VmHWM to the current RSS

python3 - "${BASE#http://}" "$CONNECTIONS" "$DECLARED" "$HOLD" > "$WORK/answers" <<'PY'
import collections, socket, sys, threading, time
host, connections, declared, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
address, port = host.rsplit(":", 1)
head = (f"POST /logout HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {declared}\r\n\r\n").encode()
body = b"a" * (declared - 4096)
answers = collections.Counter()
lock = threading.Lock()
ready = threading.Barrier(connections + 1)
sockets = []

def client():
    s = socket.create_connection((address, int(port)))
    sockets.append(s)
    ready.wait()
    outcome = "all but the last 4 KiB written"
    try:
        s.sendall(head)
        s.sendall(body)
    except OSError as error:
        # The server answered and closed without taking the body.
        outcome = f"cut while sending ({type(error).__name__})"
    s.settimeout(1)
    try:
        line = s.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
    except OSError:
        line = ""
    with lock:
        answers[f"{outcome}; answer: {line or 'none yet'}"] += 1

threads = [threading.Thread(target=client) for _ in range(connections)]
for thread in threads:
    thread.start()
ready.wait()
for thread in threads:
    thread.join()
time.sleep(hold)  # the connections stay open meanwhile
for outcome, count in sorted(answers.items()):
    print(f"  {count} connections: {outcome}")
for s in sockets:
    s.close()
PY

PEAK=$(rss_kib VmHWM)
echo "$CONNECTIONS anonymous POST /logout connections, each declaring $DECLARED bytes and sending all but the last 4 KiB:"
cat "$WORK/answers"
echo "idle RSS: $((IDLE / 1024)) MiB"
echo "peak RSS: $((PEAK / 1024)) MiB"
echo "difference: $(((PEAK - IDLE) / 1024)) MiB (target: within 64 MiB of idle)"
