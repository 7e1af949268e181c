//! Hello, cores: the smallest `runtime` program.
//!
//! `#[runtime::main(cores = 2)]` starts a runtime with two cores and runs the
//! body of `main` once on each of them, the way a thread-per-core server runs
//! one accept loop per core. Each copy spawns a few tasks, which stay on the
//! core that spawned them, sleeps in them, and prints which core ran what.
//!
//! ```text
//! cargo run --example hello
//! ```

use std::time::Duration;

#[runtime::main(cores = 2)]
async fn main() {
    let core = runtime::current_core();
    println!("core {core}: main started");

    let tasks: Vec<_> = (1..=3u64)
        .map(|task| {
            runtime::spawn(async move {
                runtime::time::sleep(Duration::from_millis(10 * task)).await;
                println!("core {}: task {task} woke up", runtime::current_core());
                task * task
            })
        })
        .collect();

    for task in tasks {
        match task.await {
            Ok(square) => println!("core {core}: a task returned {square}"),
            Err(error) => eprintln!("core {core}: a task failed: {error}"),
        }
    }
    println!("core {core}: done");
}
