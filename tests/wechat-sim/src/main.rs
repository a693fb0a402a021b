//! `wechat-sim CONFIG` serves the simulator on 127.0.0.1:$SIM_PORT (default 9100).
//! Env overrides: SIM_AUTHORIZATION_EVENT_URL, SIM_MESSAGE_URL, SIM_TICKET_INTERVAL_SECS and the
//! COMPONENT_* settings (shared with the functions).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use wechat_sim::{Sim, SimConfig};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let Some(path) = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("SIM_CONFIG").ok())
        .map(PathBuf::from)
    else {
        eprintln!("usage: wechat-sim CONFIG.toml (or SIM_CONFIG)");
        return ExitCode::from(2);
    };
    let port = std::env::var("SIM_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(9100);
    let config = match SimConfig::load(&path, |name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("wechat-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let running = match Sim::new(config) {
        Ok(sim) => {
            sim.serve(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
                .await
        }
        Err(e) => {
            eprintln!("wechat-sim: {e}");
            return ExitCode::from(2);
        }
    };
    match running {
        Ok(running) => {
            println!("wechat-sim listening on {}", running.base_url());
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wechat-sim: cannot listen on port {port}: {e}");
            ExitCode::FAILURE
        }
    }
}
