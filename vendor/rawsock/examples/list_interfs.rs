//! Lists the capture devices: `cargo run --example list_interfs`.

fn main() {
    let lib = match rawsock::open_best_library() {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    println!("{} ({})", lib.version(), lib.path());
    match lib.all_interfaces() {
        Ok(devs) => {
            for dev in devs {
                println!("{dev}");
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
