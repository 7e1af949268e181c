#[runtime::test(cores = 0)]
async fn zero_cores() {}

#[runtime::test(cores = "x")]
async fn string_cores() {}

#[runtime::test(pin = 3)]
async fn integer_pin() {}

#[runtime::test(cores = 2, cores = 2)]
async fn repeated_option() {}

fn main() {}
