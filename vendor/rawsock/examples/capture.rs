//! Prints frames received on a device for a few seconds; it never sends.
//!
//! `cargo run --example capture -- DEVICE [SECONDS] [FILTER]` (as root / Administrator)

use std::time::Duration;

use rawsock::{open_best_library, Config, Error};

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let Some(device) = args.next() else {
        eprintln!("usage: capture DEVICE [SECONDS] [FILTER]");
        std::process::exit(2);
    };
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let filter = args.next();

    let lib = open_best_library()?;
    let mut interf = match lib.open_interface_with(&device, &Config::default()) {
        Err(Error::PermissionDenied { .. }) => {
            eprintln!("capturing needs root (Linux) or Administrator (Windows)");
            std::process::exit(1);
        }
        other => other?,
    };
    println!(
        "{device}: {}, immediate mode {}, nanosecond time stamps {}",
        interf.data_link(),
        interf.immediate_mode(),
        interf.nanosecond_timestamps()
    );
    if let Some(filter) = filter {
        interf.set_filter(&filter)?;
    }

    let breaker = interf.breaker();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(seconds));
        breaker.break_loop();
    });
    loop {
        match interf.receive() {
            Ok(Some(p)) => println!(
                "{:?} {} of {} bytes: {}",
                p.timestamp(),
                p.captured_len(),
                p.wire_len(),
                p
            ),
            Ok(None) => {}
            Err(Error::Broken) => break,
            Err(e) => return Err(e),
        }
    }
    println!("{:?}", interf.stats()?);
    Ok(())
}
