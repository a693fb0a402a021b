//! What the benchmarks (`harness = false`) share.

/// A number from the environment (`BENCH_TARGETS=…`), or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `cargo test --benches` and `cargo bench --list` run every bench target to probe it: such a run
/// must end at once.
pub fn probed() -> bool {
    std::env::args().any(|a| a == "--list" || a == "--test")
}
