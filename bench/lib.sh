# Shared by the benchmark scripts (sourced, not run): installing what they drive,
# building packyard, a scratch directory cleaned up on exit, and starting packyard
# and nginx on free local ports.

# Installs, with apt, whatever of COMMAND[:PACKAGE] ... is missing.
need_commands() {
    local need=() spec
    for spec in "$@"; do
        command -v "${spec%%:*}" >/dev/null || need+=("${spec#*:}")
    done
    if [ ${#need[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
}

# Builds the release binary into BIN; with PACKYARD_BIN set, uses that binary instead
# (to compare two builds, e.g. before and after a change, on the same script).
build_packyard() {
    if [ -n "${PACKYARD_BIN:-}" ]; then
        BIN=$PACKYARD_BIN
        return
    fi
    cargo build --release --quiet -p packyard
    BIN=$PWD/target/release/packyard
}

# A scratch directory WORK, removed on exit with every process in PIDS killed.
make_workdir() {
    WORK=$(mktemp -d "/tmp/packyard-$1.XXXXXX")
    chmod 755 "$WORK"  # nginx workers run unprivileged
    PIDS=()
    trap cleanup EXIT
}
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Starts `packyard serve` (configured by the caller's environment); sets SERVER to its
# pid and BASE to its URL.
start_packyard() {
    # The log goes to a file, as it would to a collector: at tens of thousands of
    # requests a second, a terminal would be what is measured.
    "$BIN" serve > "$WORK/serve.out" 2>> "$WORK/serve.log" &
    SERVER=$!
    PIDS+=("$SERVER")
    for _ in $(seq 100); do grep -q listening "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
    BASE=$(sed -n 's/^packyard listening on //p' "$WORK/serve.out")
}

# Starts nginx on 127.0.0.1:PORT serving $WORK/static.
start_static_nginx() {
    cat > "$WORK/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    default_type application/json;
    client_body_temp_path $WORK/nginx-tmp;
    proxy_temp_path $WORK/nginx-tmp;
    fastcgi_temp_path $WORK/nginx-tmp;
    uwsgi_temp_path $WORK/nginx-tmp;
    scgi_temp_path $WORK/nginx-tmp;
    server { listen 127.0.0.1:$1; root $WORK/static; }
}
CONF
    nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
    NGINX_MASTER=$!
    PIDS+=("$NGINX_MASTER")
    sleep 0.5
}

# Requests per second wrk measures with CONNECTIONS connections for DURATION seconds.
rps() { wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$@" | awk '/Requests\/sec/ {print $2}'; }

# The same, followed by the number of requests answered.
rps_and_requests() {
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$@" |
        awk '/ requests in / {n = $1} /Requests\/sec/ {rps = $2} END {print rps, n}'
}

# CPU time (user + system, in clock ticks) process PID has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Logs USER in to the web UI with $PASSWORD; its session cookie goes to $WORK/USER.jar.
log_in() {
    curl -fsS -c "$WORK/$1.jar" "$BASE/login" > "$WORK/login.html"
    local csrf
    csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$WORK/login.html" | head -n 1)
    curl -fsS -b "$WORK/$1.jar" -c "$WORK/$1.jar" -o /dev/null \
        --data-urlencode "csrf=$csrf" --data-urlencode "username=$1" \
        --data-urlencode "password=$PASSWORD" "$BASE/login"
}
