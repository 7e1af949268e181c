//! Hello, cores: the smallest `runtime` program.
//!
//! `#[runtime::main(cores = 2)]` starts a runtime with two cores and runs the
//! body of `main` once, on core 0, as `#[tokio::main]` does. The body spawns
//! a few local tasks, which stay on core 0, and one task on core 1 through
//! `spawn_on`; each sleeps and prints which core ran it. (With
//! `#[runtime::main(cores = 2, each_core)]` the body would run once on each
//! core instead, the way a thread-per-core server starts one accept loop per
//! core.)
//!
//! ```text
//! cargo run --example hello
//! ```

use std::time::Duration;

#[runtime::main(cores = 2)]
async fn main() {
    let core = runtime::current_core();
    println!("core {core}: main started");

    let mut tasks: Vec<_> = (1..=3u64)
        .map(|task| {
            runtime::spawn(async move {
                runtime::time::sleep(Duration::from_millis(10 * task)).await;
                println!("core {}: task {task} woke up", runtime::current_core());
                task * task
            })
        })
        .collect();
    // A task on the other core: the closure is `Send`, the future it makes
    // need not be.
    tasks.push(runtime::spawn_on(1, || async {
        runtime::time::sleep(Duration::from_millis(5)).await;
        println!("core {}: a task sent here woke up", runtime::current_core());
        16
    }));

    for task in tasks {
        match task.await {
            Ok(square) => println!("core {core}: a task returned {square}"),
            Err(error) => eprintln!("core {core}: a task failed: {error}"),
        }
    }
    println!("core {core}: done");
}
