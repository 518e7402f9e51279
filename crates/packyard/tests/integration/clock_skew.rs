//! A machine whose clock is off is told so at start-up: real S3 servers refuse requests
//! signed too far from their own time. The clock is moved with libfaketime.

use std::process::Command;

use testkit::S3sFs;

#[test]
fn a_skewed_clock_is_named_as_the_reason_storage_fails() {
    testkit::needs!(S3sFs, Faketime);
    let faketime = Command::new("faketime").arg("--version").output();
    assert!(
        faketime.is_ok(),
        "faketime is required: run scripts/test (it installs Debian's faketime package)"
    );
    let s3 = S3sFs::start("skewed");
    let data = testkit::TempDir::new("clock-skew");
    let check = |offset: &str| {
        Command::new("faketime")
            .args([
                "-f",
                offset,
                env!("CARGO_BIN_EXE_packyard"),
                "storage",
                "check",
            ])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PACKYARD_DATA_DIR", data.path())
            .env("STORAGE_SOURCE", "s3")
            .env("STORAGE_AWS_BUCKET", "skewed")
            .env("STORAGE_AWS_ARGS", s3.storage_aws_args())
            .env("RUST_LOG", "error")
            .output()
            .expect("running packyard under faketime")
    };
    let on_time = check("+0s");
    assert!(
        on_time.status.success(),
        "{}",
        String::from_utf8_lossy(&on_time.stderr)
    );
    let skewed = check("+2h");
    assert!(!skewed.status.success());
    let stderr = String::from_utf8_lossy(&skewed.stderr);
    assert!(stderr.contains("clock differs too much"), "{stderr}");
    assert!(stderr.contains("NTP"), "{stderr}");
}
