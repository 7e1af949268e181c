//! Attribute macros for the `runtime` crate: `#[runtime::main]` and
//! `#[runtime::test]`.
//!
//! Both turn an `async fn` into a plain fn that builds a
//! `runtime::Runtime` and drives the body on it. Use them through the facade
//! (`runtime::main`, `runtime::test`); the expansion names `::runtime::...`
//! paths, so this crate is not useful on its own (its doc examples run
//! through the facade, a dev-dependency).
//!
//! ```
//! #[runtime::main(cores = 4)]
//! async fn main() {
//!     // Runs once, on core 0; cores 1 to 3 serve `spawn_on` and servers.
//!     println!("hello from core {}", runtime::current_core());
//! }
//! ```

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod entry;
mod options;

use proc_macro::TokenStream;

use crate::entry::Entry;

/// Runs `async fn main` on a `runtime::Runtime`.
///
/// The function becomes a sync `fn main` with the same signature and return
/// type, which builds a runtime and drives the body to completion:
///
/// ```
/// #[runtime::main]
/// async fn main() -> std::io::Result<()> {
///     runtime::time::sleep(std::time::Duration::from_millis(10)).await;
///     Ok(())
/// }
/// ```
///
/// expands to roughly
///
/// ```
/// fn main() -> std::io::Result<()> {
///     let body = async move {
///         runtime::time::sleep(std::time::Duration::from_millis(10)).await;
///         Ok(())
///     };
///     let runtime = runtime::Runtime::builder()
///         .cores(1)
///         .build()
///         .expect("failed to build the runtime");
///     runtime.block_on(body)
/// }
/// ```
///
/// The body runs once, on core 0, as `#[tokio::main]`'s does; its output
/// need not be `Send`, so `-> Result<(), Box<dyn std::error::Error>>` works.
///
/// # Options
///
/// - `cores = N`, an integer literal of at least 1 (default 1): the number
///   of cores. Cores 1 to N-1 are up while the body runs and serve what is
///   sent to them: `runtime::spawn_on`, `Server::serve_on_all_cores`, the
///   cross-core channels.
/// - `each_core` runs the body once on every core instead, through
///   `Runtime::run_on_all_cores`: how a thread-per-core server can start one
///   accept loop per core. Each core's `TcpListener::bind` of the same
///   address then joins one listener group (port 0 resolves to one port).
///   The body's output must be `Send`, and the return type `()` or
///   `Result<(), E>`: the first error in core order is returned, or `Ok(())`.
/// - `pin = true|false` pins each core's thread to a CPU
///   (`Builder::pin_cores`); when left out the builder's default applies.
///
/// ```
/// #[runtime::main(cores = 4)]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     // Runs once, on core 0.
///     let answer = runtime::spawn_on(3, || async { runtime::current_core() }).await?;
///     assert_eq!(answer, 3);
///     Ok(())
/// }
/// ```
///
/// ```
/// #[runtime::main(cores = 4, each_core, pin = true)]
/// async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     // Runs once on each of the 4 cores.
///     println!("core {} is up", runtime::current_core());
///     Ok(())
/// }
/// ```
///
/// `tests/macros.rs` and `examples/hello.rs` in the workspace run more.
///
/// # Panics
///
/// The generated `main` panics if the runtime cannot be built (for example
/// when a core's thread cannot be spawned), and re-panics if the body
/// panicked on any core.
///
/// # Compile errors
///
/// The attribute rejects a fn without `async`, a `main` with arguments or
/// generic parameters, unknown options and out-of-range values, each error
/// pointing at the offending tokens.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(Entry::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on a fresh `runtime::Runtime`.
///
/// The function becomes a `#[test] fn` with the same name, attributes, doc
/// comments and return type; every test gets its own runtime, so tests do
/// not share state through it.
///
/// ```
/// #[runtime::test]
/// async fn sleeps() {
///     runtime::time::sleep(std::time::Duration::from_millis(1)).await;
/// }
///
/// #[runtime::test]
/// #[should_panic(expected = "boom")]
/// async fn panics() {
///     panic!("boom");
/// }
///
/// #[runtime::test]
/// async fn returns_result() -> std::io::Result<()> {
///     Ok(())
/// }
/// ```
///
/// # Options
///
/// The same as [`macro@main`]: the body runs once on core 0; `cores = N`
/// starts N cores, `each_core` runs the body on each of them (the test then
/// returns `()` or `Result<(), E>`, and fails if any core fails),
/// `pin = true|false` pins the cores' threads. Tests also take
/// `start_paused = true`, which pauses the clock of the core running the body
/// before it starts (`runtime::time::pause`): timers fire as time is advanced
/// by `runtime::time::advance`, or at once when every task of the core is
/// idle, with no real sleep.
///
/// ```
/// #[runtime::test(cores = 2, each_core)]
/// async fn runs_on_every_core() {
///     assert!(runtime::current_core() < 2);
/// }
///
/// #[runtime::test(start_paused = true)]
/// async fn an_hour_in_no_time() {
///     let mut ticks = runtime::time::interval(std::time::Duration::from_secs(3600));
///     for _ in 0..3 {
///         ticks.tick().await;
///     }
/// }
/// ```
///
/// # Panics
///
/// The test panics, and so fails, if the runtime cannot be built or the body
/// panicked on any core.
///
/// # Compile errors
///
/// The attribute rejects a fn without `async`, a test with arguments or
/// generic parameters, a test that also carries `#[test]`, unknown options
/// and out-of-range values.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(Entry::Test, args.into(), item.into()).into()
}
