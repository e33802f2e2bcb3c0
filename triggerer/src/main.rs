//! `triggerer`: the stock triggerer with the built-in triggers.

fn main() -> std::process::ExitCode {
    airlock_triggerer::Triggerer::builder().main()
}
