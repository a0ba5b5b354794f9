//! The `gatehouse` binary: parses the command line and hands over to [`gatehouse_server::cli`].

fn main() -> std::process::ExitCode {
    return_large_allocations_to_the_system();
    gatehouse_server::cli::main()
}

/// Every argon2id hash needs its whole memory cost (19 MiB by default); the hashing threads
/// keep theirs from one hash to the next and give it back after a few idle seconds. glibc
/// would serve such blocks from per-thread arenas and keep them there, fragmented (measured:
/// a few hundred logins left ~200 MiB resident). A fixed mmap threshold makes each block a
/// mapping of its own, so what is given back goes back to the system.
fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tunables; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
