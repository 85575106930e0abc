//! Turns an engine's seccomp profile (Docker's and podman's `seccomp.json`
//! format: `archMap`, per-rule `includes`/`excludes` of arches and
//! capabilities) into the OCI `linux.seccomp` an engine would write into
//! config.json, as containers/common's `seccomp.go` does. Test-only: engines do
//! this, runtimes receive the result.

use berth_oci::LinuxSeccomp;
use serde_json::{json, Value};

/// podman's default capability set (containers.conf `default_capabilities`).
pub(crate) const PODMAN_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// Podman's default profile from containers-common.
pub(crate) const PODMAN_PROFILE: &str = "/usr/share/containers/seccomp.json";

/// The OCI profile for a container with capabilities `caps` on an x86_64
/// host (Go arch `amd64`), from the engine profile `profile`.
pub(crate) fn for_amd64(profile: &Value, caps: &[&str]) -> LinuxSeccomp {
    let (native, goarch) = ("SCMP_ARCH_X86_64", "amd64");
    let mut architectures = vec![json!(native)];
    for entry in profile["archMap"].as_array().into_iter().flatten() {
        if entry["architecture"] == native {
            architectures.extend(
                entry["subArchitectures"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .cloned(),
            );
        }
    }
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut syscalls = Vec::new();
    for rule in profile["syscalls"].as_array().unwrap() {
        let (inc, exc) = (&rule["includes"], &rule["excludes"]);
        let inc_arches = list(&inc["arches"]);
        if !inc_arches.is_empty() && !inc_arches.iter().any(|a| a == goarch) {
            continue;
        }
        if !list(&inc["caps"])
            .iter()
            .all(|c| caps.contains(&c.as_str()))
        {
            continue;
        }
        if list(&exc["arches"]).iter().any(|a| a == goarch) {
            continue;
        }
        if list(&exc["caps"])
            .iter()
            .any(|c| caps.contains(&c.as_str()))
        {
            continue;
        }
        let args = if rule["args"].is_array() {
            rule["args"].clone()
        } else {
            json!([])
        };
        syscalls.push(json!({
            "names": rule["names"],
            "action": rule["action"],
            "errnoRet": rule["errnoRet"],
            "args": args,
        }));
    }
    serde_json::from_value(json!({
        "defaultAction": profile["defaultAction"],
        "defaultErrnoRet": profile["defaultErrnoRet"],
        "architectures": architectures,
        "syscalls": syscalls,
    }))
    .expect("converted profile parses as OCI linux.seccomp")
}

/// Podman's default profile as podman would pass it for a container with the
/// default capabilities; panics with what to install if the file is missing.
pub(crate) fn podman_default() -> LinuxSeccomp {
    let text = std::fs::read_to_string(PODMAN_PROFILE).unwrap_or_else(|e| {
        panic!("read {PODMAN_PROFILE}: {e}: install Debian's containers-common package (apt-get install podman)")
    });
    let value: Value = serde_json::from_str(&text).expect("podman's seccomp.json parses");
    for_amd64(&value, PODMAN_DEFAULT_CAPS)
}
