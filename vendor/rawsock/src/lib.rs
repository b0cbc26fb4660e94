/*!
Send and capture raw frames through libpcap (Linux, macOS) or Npcap's
`wpcap.dll` (Windows), loaded at run time: nothing links them at build time,
and a machine without them gets an [`Error::LibraryNotFound`] that says what
to install.

This is a patched copy of rawsock 0.3.0 by Szymon Wieloch (MIT); see
`PATCHES.md` for every change.

```no_run
use std::time::Duration;
use rawsock::{open_best_library, Config, DataLink, Error};

fn main() -> Result<(), Error> {
    let lib = open_best_library()?; // Err(LibraryNotFound) tells what to install
    println!("{}", lib.version());
    for dev in lib.all_interfaces()? {
        println!("{dev}");
    }
    let mut interf = lib.open_interface_with("eth0", &Config::default().require_ethernet(true))?;
    assert_eq!(interf.data_link(), DataLink::Ethernet);
    interf.set_filter("icmp")?;

    // Another thread can stop the receive loop, and send meanwhile.
    let breaker = interf.breaker();
    let sender = interf.sender();
    std::thread::spawn(move || {
        let _ = sender.send(&[0xff; 60]);
        std::thread::sleep(Duration::from_secs(1));
        breaker.break_loop();
    });
    loop {
        match interf.receive() {
            Ok(Some(packet)) => println!("{:?} {} bytes", packet.timestamp(), packet.wire_len()),
            Ok(None) => {}                   // read timeout
            Err(Error::Broken) => break,     // breaker
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
```
*/

mod error;
mod ffi;
mod interface;
mod library;
#[cfg(target_os = "linux")]
pub mod linux;
mod packet;

pub use error::{Error, NOT_INSTALLED};
pub use interface::{Breaker, Config, DataLink, Interface, Sender, Stats, TimestampType};
#[cfg(windows)]
pub use library::module_file;
pub use library::{npcap_admin_only, open_best_library, InterfaceDescription, Library};
pub use packet::{BorrowedPacket, OwnedPacket};
