use clap::Parser;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        // The HTTP client's own debug and trace lines carry request details (URLs with
        // userinfo, headers): capped at info whatever RUST_LOG says.
        .filter_module("ureq_proto", log::LevelFilter::Info)
        .filter_module("ureq", log::LevelFilter::Info)
        .init();
    let cli = animam::cli::Cli::parse();
    if let Err(message) = animam::cli::run(cli) {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}
