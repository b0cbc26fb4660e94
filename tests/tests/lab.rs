//! The lab itself works: real kernels answer where the diagram says, and
//! nothing is left behind.

use ersatz_e2e::{addrs, namespace_exists, Lab};

#[test]
fn lab_routes_and_cleans_up() {
    let names: Vec<String>;
    {
        let lab = Lab::new();
        names = lab.namespaces().iter().map(|n| n.name.clone()).collect();
        assert!(names.iter().all(|n| namespace_exists(n)));
        // The remote answers from behind the gateway with TTL 63.
        let out = lab.host.sh(&format!("ping -n -c 1 -W 2 {}", addrs::REMOTE));
        assert!(out.contains("ttl=63"), "{out}");
        let out = lab.host.sh("ping -n -c 1 -W 2 10.77.2.29");
        assert!(out.contains("ttl=63"), "{out}");
        // The neighbour is on-link: TTL 64, no router in between.
        let out = lab
            .host
            .sh(&format!("ping -n -c 1 -W 2 {}", addrs::NEIGHBOUR));
        assert!(out.contains("ttl=64"), "{out}");
        // Nothing leaves the lab: the gateway has no route beyond it.
        let out = lab
            .host
            .sh_status(&format!("ping -n -c 1 -W 1 {}", addrs::UNROUTED));
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Unreachable"));
        assert_eq!(lab.gw.mac("br0"), "02:e5:a7:01:00:01");
    }
    assert!(
        names.iter().all(|n| !namespace_exists(n)),
        "{names:?} left behind"
    );
}

#[test]
fn lab_is_removed_when_a_test_panics() {
    let names = std::sync::Mutex::new(Vec::new());
    let result = std::panic::catch_unwind(|| {
        let lab = Lab::new();
        *names.lock().unwrap() = lab.namespaces().iter().map(|n| n.name.clone()).collect();
        panic!("a failing test");
    });
    assert!(result.is_err());
    let names = names.into_inner().unwrap();
    assert_eq!(names.len(), 4);
    assert!(
        names.iter().all(|n| !namespace_exists(n)),
        "{names:?} left behind"
    );
}
