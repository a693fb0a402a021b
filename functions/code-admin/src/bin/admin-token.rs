//! `admin-token LABEL`: prints a new admin token (256 bits from the OS random number generator)
//! on the first line and its `ADMIN_TOKEN_HASHES` entry (`LABEL:sha256hex`) on the second.
//! Give the token to the admin; put only the entry in the configuration.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [label] = args.as_slice() else {
        eprintln!("usage: admin-token LABEL   (e.g. admin-token ops)");
        return ExitCode::FAILURE;
    };
    match code_admin::auth::generate(label) {
        Ok((token, entry)) => {
            println!("{token}");
            println!("{entry}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("admin-token: {e}");
            ExitCode::FAILURE
        }
    }
}
