use clap::Parser;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        // At trace level ureq_proto dumps raw requests, LLM Authorization header included.
        .filter_module("ureq_proto", log::LevelFilter::Debug)
        .init();
    let cli = animam::cli::Cli::parse();
    if let Err(message) = animam::cli::run(cli) {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}
