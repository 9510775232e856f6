//! The `lookalike` command: a thin front end over the library (see `cli`).

mod cli;

/// candle allocates a fresh buffer for every tensor; with glibc's allocator, buffers of many
/// megabytes are mapped and unmapped each time and page faults dominate (training ran 1.5x
/// slower). mimalloc keeps and reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
