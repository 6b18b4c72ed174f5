// Wired to the AWS adapters once saga-aws exposes them (next commit).
fn main() {}
