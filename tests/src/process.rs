//! Running a function binary the way Lambda does.

use std::process::{Child, Command, Stdio};

use crate::fake_runtime::FakeRuntime;

/// A child process killed when dropped.
#[derive(Debug)]
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The AWS SDK settings a Lambda environment (here: moto) provides.
const AWS_ENV: &[&str] = &[
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
];

/// Start `binary` with an environment holding only what Lambda provides (the
/// runtime API, the function's identity, AWS credentials/region/endpoint) and
/// `env` (what Terraform sets).
pub fn start_function(
    binary: &str,
    name: &str,
    runtime: &FakeRuntime,
    env: &[(&str, &str)],
) -> std::io::Result<Running> {
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in runtime.lambda_env(name) {
        cmd.env(k, v);
    }
    for var in AWS_ENV {
        if let Ok(v) = std::env::var(var) {
            cmd.env(var, v);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().map(Running)
}
