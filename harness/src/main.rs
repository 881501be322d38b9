//! `tokenemu`: the tokenemu command line. See `tokenemu --help`.

use clap::Parser;

fn main() {
    let cli = tokenemu_harness::cli::Cli::parse();
    tokenemu_harness::init_logging();
    if let Err(e) = tokenemu_harness::run(cli) {
        std::process::exit(tokenemu_harness::report_error(&e));
    }
}
