#[runtime::test]
fn not_async() {}

#[runtime::test]
async fn with_arguments(n: u32) {
    let _ = n;
}

#[runtime::test]
#[test]
async fn with_a_second_test_attribute() {}

#[runtime::test]
struct NotAFunction;

fn main() {}
