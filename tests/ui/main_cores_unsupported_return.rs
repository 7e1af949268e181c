#[runtime::main(cores = 2)]
async fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
