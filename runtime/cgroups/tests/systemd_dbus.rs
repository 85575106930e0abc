//! The systemd driver. This machine has no systemd, so:
//!
//! * the driver's refusal is checked exactly (never a silent fallback);
//! * the D-Bus client is checked against a real, independent D-Bus
//!   implementation: a private `dbus-daemon` (Debian's `dbus-daemon`
//!   package) validates every message it receives and drops malformed
//!   ones; `dbus-monitor` (package `dbus-bin`) decodes our
//!   `StartTransientUnit` call, whose arguments are checked in its output.
//!   With no systemd on that bus, the daemon answers `ServiceUnknown`,
//!   which checks our reading of error replies.

mod common;

use berth_cgroups::systemd::{self, dbus, unit, DbusError, SystemdPath};
use berth_cgroups::{CgroupError, Layout};
use berth_oci::{LinuxMemory, LinuxPids, LinuxResources};
use common::*;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

#[test]
fn without_systemd_the_driver_refuses_clearly() {
    if systemd::systemd_running() {
        eprintln!("skipped: systemd runs here");
        return;
    }
    let layout = Layout::detect().unwrap();
    let err = systemd::create(
        &layout,
        "system.slice:berth:c1",
        1,
        &LinuxResources::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "systemd cgroup driver: systemd is not running (no /run/systemd/system): use the cgroupfs driver"
    );
    // A malformed path is reported before anything else.
    let err = systemd::create(&layout, "/berth/c1", 1, &LinuxResources::default()).unwrap_err();
    assert!(matches!(err, CgroupError::Systemd(_)));
    assert_eq!(
        err.to_string(),
        "invalid systemd cgroupsPath \"/berth/c1\": want slice:prefix:name"
    );
}

/// A private dbus-daemon and a dbus-monitor on it, stopped on drop.
struct PrivateBus {
    dir: PathBuf,
    daemon: Child,
    monitor: Option<Child>,
}

impl PrivateBus {
    fn start() -> PrivateBus {
        let dir = std::env::temp_dir().join(unique("dbus"));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("bus");
        // No <servicedir>: nothing is ever activated, so a call to an absent
        // name gets ServiceUnknown.
        let config = dir.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let daemon = Command::new("dbus-daemon")
            .args(["--nofork", "--nopidfile"])
            .arg(format!("--config-file={}", config.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package dbus-daemon) must be installed");
        let mut bus = PrivateBus {
            dir,
            daemon,
            monitor: None,
        };
        // The socket file appears at bind(2), a moment before listen(2).
        wait_for("dbus-daemon to listen", || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        let out = std::fs::File::create(bus.dir.join("monitor.txt")).unwrap();
        // Line-buffered, so each message shows up in the file as it is seen.
        bus.monitor = Some(
            Command::new("stdbuf")
                .args(["-oL", "dbus-monitor", "--address"])
                .arg(format!("unix:path={}", socket.display()))
                .stdout(out)
                .stderr(Stdio::null())
                .spawn()
                .expect("dbus-monitor (Debian package dbus-bin) must be installed"),
        );
        // The monitor is attached once it sees our probe calls.
        let mut probe = dbus::Connection::open(&socket, true).unwrap();
        wait_for("dbus-monitor to attach", || {
            probe
                .call(
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus",
                    "GetId",
                    "",
                    &[],
                    Some("org.freedesktop.DBus"),
                )
                .unwrap();
            bus.monitor_output().contains("member=GetId")
        });
        bus
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("bus")
    }

    fn monitor_output(&self) -> String {
        std::fs::read_to_string(self.dir.join("monitor.txt")).unwrap_or_default()
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        if let Some(m) = &mut self.monitor {
            let _ = m.kill();
            let _ = m.wait();
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn start_transient_unit_is_well_formed_on_a_real_bus() {
    let bus = PrivateBus::start();
    // Auth EXTERNAL + Hello: the daemon accepted our header and we read its reply.
    let mut conn = dbus::Connection::open(&bus.socket(), true).unwrap();

    let path = SystemdPath::parse("system.slice:berth:c1").unwrap();
    let resources = LinuxResources {
        memory: Some(LinuxMemory {
            limit: Some(1 << 20),
            ..Default::default()
        }),
        pids: Some(LinuxPids { limit: 64 }),
        ..Default::default()
    };
    let props = unit::unit_properties(
        "berth container c1",
        Some(&path.slice),
        4242,
        false,
        &resources,
    );
    let err = unit::start_transient_unit(&mut conn, &path.unit_name(), &props).unwrap_err();
    match &err {
        DbusError::Remote { member, name, .. } => {
            assert_eq!(member, "StartTransientUnit");
            assert_eq!(name, "org.freedesktop.DBus.Error.ServiceUnknown");
        }
        other => panic!("expected ServiceUnknown from the daemon, got {other}"),
    }
    // The connection survived (a malformed message would have closed it).
    let limits = unit::limit_properties(false, &resources);
    let err = unit::set_unit_properties(&mut conn, "berth-c1.scope", &limits).unwrap_err();
    assert!(matches!(err, DbusError::Remote { .. }), "{err}");
    let err = unit::stop_unit(&mut conn, "berth-c1.scope").unwrap_err();
    assert!(matches!(err, DbusError::Remote { .. }), "{err}");

    wait_for("dbus-monitor to print the call", || {
        bus.monitor_output().contains("member=StopUnit")
    });
    let out = bus.monitor_output();
    assert!(
        out.contains("path=/org/freedesktop/systemd1; interface=org.freedesktop.systemd1.Manager; member=StartTransientUnit"),
        "{out}"
    );
    let call = out
        .split("member=StartTransientUnit")
        .nth(1)
        .expect("the monitor saw StartTransientUnit");
    let call = call.split("method call").next().unwrap();
    let set = out
        .split("member=SetUnitProperties")
        .nth(1)
        .expect("the monitor saw SetUnitProperties")
        .split("method call")
        .next()
        .unwrap();
    for want in [
        "string \"berth-c1.scope\"",
        "boolean true",
        "string \"MemoryLimit\"",
        "uint64 1048576",
        "string \"TasksMax\"",
    ] {
        assert!(
            set.contains(want),
            "{want:?} missing from the decoded SetUnitProperties:\n{set}"
        );
    }
    assert!(!set.contains("PIDs"), "{set}");
    for want in [
        "string \"berth-c1.scope\"",
        "string \"replace\"",
        "string \"Slice\"",
        "string \"system.slice\"",
        "string \"PIDs\"",
        "uint32 4242",
        "string \"Delegate\"",
        "boolean true",
        "string \"MemoryLimit\"",
        "uint64 1048576",
        "string \"TasksMax\"",
        "uint64 64",
    ] {
        assert!(
            call.contains(want),
            "{want:?} missing from the decoded call:\n{call}"
        );
    }
}
