//! The argon2 working memory a hashing thread keeps from one hash to the next, and gives
//! back when the pool finds it idle (`pool.rs`); `hashing.rs` computes in it.

use std::cell::RefCell;

use argon2::Block;

thread_local! {
    /// The working memory of the last argon2 computation on this thread (the hashing pool's
    /// threads), kept for the next. A fresh allocation of argon2's 19 MiB costs about as much
    /// CPU as the hash itself (the kernel maps and zeroes each of its pages on first touch).
    /// Released by [`release_kept_memory`] when the thread has been idle for a while.
    pub(crate) static KEPT_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// At most this much working memory is kept per thread; a stored hash asking for more
/// (imported, up to `hashing::MAX_VERIFY_M_COST_KIB`) gets memory of its own, freed after.
const MAX_KEPT_BLOCKS: usize = 64 * 1024;

/// Gives this thread's kept argon2 memory back to the system.
pub(crate) fn release_kept_memory() {
    KEPT_MEMORY.with_borrow_mut(|memory| *memory = Vec::new());
}

/// Runs `compute` over `blocks` blocks of this thread's kept memory.
pub(crate) fn with_kept_memory<T>(blocks: usize, compute: impl FnOnce(&mut [Block]) -> T) -> T {
    if blocks > MAX_KEPT_BLOCKS {
        return compute(&mut vec![Block::new(); blocks]);
    }
    KEPT_MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            // Previous contents are never read: argon2's first pass writes every block.
            memory.resize(blocks, Block::new());
        }
        compute(&mut memory[..blocks])
    })
}
