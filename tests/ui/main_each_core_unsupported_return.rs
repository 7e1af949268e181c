#[runtime::main(cores = 2, each_core)]
async fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
