//! Host names for sup inside a lab namespace, and nowhere else: files in
//! `/etc/netns/<ns>/`, which `ip netns exec` bind-mounts over `/etc/`: a
//! hosts file with the lab's names, glibc told to use only that file and
//! DNS (no nss-resolve, mDNS, ...), and DNS sent to the namespace's own
//! loopback (where nothing answers). So no query leaves the lab.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::Ns;

/// Users of /etc/netns in this process, and whether we created it.
static ETC_NETNS: Mutex<(u32, bool)> = Mutex::new((0, false));

/// `/etc/netns/<ns>/` with the files; removed on drop (also on panic).
pub struct Confined {
    dir: PathBuf,
}

/// Confines `ns`'s name resolution to `hosts` (address, name), as above.
/// Panics if nscd runs (it would look names up from the root namespace).
pub fn confine(ns: &Ns, hosts: &[(&str, &str)]) -> Confined {
    for socket in ["/run/nscd/socket", "/var/run/nscd/socket"] {
        assert!(
            !Path::new(socket).exists(),
            "{socket} exists: nscd would resolve names outside the lab; stop nscd to run this test"
        );
    }
    let root = Path::new("/etc/netns");
    let mut state = ETC_NETNS.lock().unwrap_or_else(|e| e.into_inner());
    if state.0 == 0 && !root.exists() {
        state.1 = true;
    }
    state.0 += 1;
    let guard = Confined {
        dir: root.join(&ns.name),
    };
    std::fs::create_dir_all(&guard.dir).expect("create /etc/netns/<ns>");
    let hosts: String = std::iter::once("127.0.0.1 localhost\n".to_string())
        .chain(hosts.iter().map(|(addr, name)| format!("{addr} {name}\n")))
        .collect();
    for (name, content) in [
        ("hosts", hosts.as_str()),
        (
            "nsswitch.conf",
            "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n\
             networks: files\nprotocols: files\nservices: files\n",
        ),
        (
            "resolv.conf",
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        ),
    ] {
        std::fs::write(guard.dir.join(name), content).expect("write /etc/netns/<ns>/<file>");
    }
    guard
}

impl Drop for Confined {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let mut state = ETC_NETNS.lock().unwrap_or_else(|e| e.into_inner());
        state.0 -= 1;
        if state.0 == 0 && state.1 {
            // Fails (harmlessly) if another test process uses it meanwhile.
            let _ = std::fs::remove_dir("/etc/netns");
            state.1 = false;
        }
    }
}
