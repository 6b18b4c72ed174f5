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

/// Where the artifacts of `make build` are tested instead of the debug
/// binaries: a directory of `<function>/bootstrap`, unzipped from the release
/// zips. `make test-artifacts` (run by CI after the release build) sets it to
/// `target/lambda-test`, so the shipped `bootstrap` files run these tests too.
pub const ARTIFACTS_VAR: &str = "SAGA_LAMBDA_ARTIFACTS";

/// The binary to run for function `name`: `$SAGA_LAMBDA_ARTIFACTS/<name>/bootstrap`
/// when that variable is set (it must exist then), else `cargo_built`
/// (`env!("CARGO_BIN_EXE_<name>")`).
pub fn function_binary(name: &str, cargo_built: &str) -> String {
    match std::env::var(ARTIFACTS_VAR) {
        Ok(dir) if !dir.is_empty() => {
            let path = std::path::Path::new(&dir).join(name).join("bootstrap");
            assert!(
                path.is_file(),
                "{ARTIFACTS_VAR}={dir} but {} does not exist (run `make build` first)",
                path.display()
            );
            #[allow(clippy::print_stderr)] // test support: says which binary ran
            {
                eprintln!("testing the artifact {}", path.display());
            }
            path.to_string_lossy().into_owned()
        }
        _ => cargo_built.to_owned(),
    }
}

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
