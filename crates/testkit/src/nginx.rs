//! nginx as the load balancer in front of several packyard replicas, as production
//! runs them: a request whose replica refuses or drops the connection before answering
//! goes to the next one (`proxy_next_upstream error timeout`).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::{Service, TempDir, free_port};

/// A running nginx balancing over fixed backend ports; killed on drop.
pub struct Nginx {
    pub service: Service,
    dir: TempDir,
}

impl Nginx {
    /// nginx on a free port of 127.0.0.1 spreading requests over `backends` (ports on
    /// 127.0.0.1) round-robin. One process (`master_process off`), so killing it leaves
    /// no worker behind.
    pub fn balancing(backends: &[u16]) -> Nginx {
        let dir = TempDir::new("nginx");
        // nginx opens its temporary directories as an unprivileged user when run as root.
        set_mode(dir.path(), 0o755);
        let port = free_port();
        let mut servers = String::new();
        for backend in backends {
            // A replica that refused a connection is tried again after 1 s, not 10.
            let _ = writeln!(
                servers,
                "        server 127.0.0.1:{backend} max_fails=1 fail_timeout=1s;"
            );
        }
        let root = dir.path().display();
        let config = format!(
            r"master_process off;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    client_max_body_size 0;
    upstream packyard {{
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://packyard;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
"
        );
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config).unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let service = Service::spawn(
            "nginx",
            Command::new("nginx")
                .arg("-c")
                .arg(&config_path)
                .arg("-p")
                .arg(dir.path()),
            port,
        );
        Nginx { service, dir }
    }

    pub fn url(&self) -> String {
        self.service.url()
    }

    /// What nginx logged at `warn` and above: upstream failures it retried, among them.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
