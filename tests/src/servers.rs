//! Servers for port probes to find: a TCP listener and a UDP echo, in a
//! namespace, by Python's sockets (the kernel's TCP, no mock).

use std::process::{Child, Stdio};

use crate::Ns;

/// A server in `ns` (Python's sockets): TCP 443 listening, UDP 7
/// echoing; killed when dropped (and it ends by itself after a minute).
pub struct Servers(Child);

impl Servers {
    /// Starts them; returns once both sockets are bound.
    pub fn start(ns: &Ns) -> Servers {
        let script = "
import socket, select
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(('0.0.0.0', 443)); t.listen(128)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 7))
print('READY', flush=True)
import time
end = time.time() + 60
while time.time() < end:
    ready, _, _ = select.select([t, u], [], [], 1.0)
    if t in ready:
        c, _ = t.accept(); c.close()
    if u in ready:
        data, peer = u.recvfrom(65535); u.sendto(data, peer)
";
        // Not under `timeout`: killing the child must kill Python itself
        // (an orphan holding the test's output open would hang cargo test).
        let mut child = std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name, "python3", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 in the remote");
        use std::io::{BufRead, BufReader};
        let mut line = String::new();
        let stdout = child.stdout.take().expect("its stdout");
        BufReader::new(stdout).read_line(&mut line).expect("READY");
        assert_eq!(line.trim(), "READY");
        Servers(child)
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
