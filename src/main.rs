//! The `lookalike` command: a thin front end over the library (see `cli`).

mod cli;

/// candle allocates a fresh buffer for every tensor; with glibc's allocator, buffers of many
/// megabytes are mapped and unmapped each time and page faults dominate (training ran 1.5x
/// slower). mimalloc keeps and reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (checked by a test below).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Freed memory is kept for reuse instead of being handed back to the OS: training and
    // batched encoding free and reallocate the same large tensors every step, and each page
    // handed back costs a fault and a zeroing when it is touched again (training steps ran
    // 1.7x slower). An explicit MIMALLOC_PURGE_DELAY in the environment still wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc reads it on every purge decision.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
    cli::main()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_number_is_right() {
        // mimalloc v3's default purge delay is 1000 ms (no other option defaults to 1000).
        // SAFETY: a plain integer option getter.
        let value = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(
            value, 1000,
            "option {MI_OPTION_PURGE_DELAY} is not the purge delay"
        );
    }
}
