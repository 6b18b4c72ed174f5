//! saga-local binary.
fn main() {}
