//! The `gatehouse` binary: parses the command line and hands over to [`gatehouse_api::cli`].

fn main() -> std::process::ExitCode {
    return_large_allocations_to_the_system();
    gatehouse_api::cli::main()
}

/// Every argon2id hash allocates its whole memory cost (19 MiB by default). glibc serves
/// such blocks from per-thread arenas after the first few and keeps them there, fragmented:
/// measured, a few hundred logins left ~200 MiB resident. A fixed mmap threshold makes each
/// block a mapping of its own that goes back to the system when the hash ends.
fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tunables; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
