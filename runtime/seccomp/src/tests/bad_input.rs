//! Bad profiles fail to compile with one clear line naming what is wrong.

use serde_json::json;

use crate::{compile_for, Arch, SeccompError};

fn error(v: serde_json::Value) -> String {
    let profile: berth_oci::LinuxSeccomp = serde_json::from_value(v).expect("parses");
    compile_for(&profile, Arch::X86_64)
        .expect_err("must not compile")
        .to_string()
}

#[test]
fn arg_index_out_of_range() {
    assert_eq!(
        error(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL",
            "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]})
        ),
        "seccomp: arg index 7 of syscall \"read\" is out of range (0-5)"
    );
}

#[test]
fn errno_ret_out_of_range() {
    assert_eq!(
        error(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4096}]})),
        "seccomp: errnoRet 4096 of syscall \"read\" is out of range (0-4095)"
    );
    assert_eq!(
        error(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_TRACE", "errnoRet": 65536}]})),
        "seccomp: errnoRet 65536 of syscall \"read\" is out of range (0-65535)"
    );
    assert_eq!(
        error(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 100000})),
        "seccomp: defaultErrnoRet 100000 is out of range (0-4095)"
    );
}

#[test]
fn empty_names() {
    assert_eq!(
        error(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_KILL"}, {"names": [], "action": "SCMP_ACT_KILL"}]})),
        "seccomp: syscalls[1] has an empty names list"
    );
    assert_eq!(
        error(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", ""], "action": "SCMP_ACT_KILL"}]})
        ),
        "seccomp: syscalls[0] has an empty syscall name"
    );
}

#[test]
fn notify_as_default_or_on_write_is_refused_as_runc_refuses_it() {
    assert_eq!(
        error(json!({"defaultAction": "SCMP_ACT_NOTIFY"})),
        "SCMP_ACT_NOTIFY cannot be used as default action"
    );
    assert_eq!(
        error(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]})
        ),
        "SCMP_ACT_NOTIFY cannot be used for the write syscall"
    );
}

#[test]
fn notify_rules_make_a_listener_and_keep_wait_killable_recv() {
    let compile = |v: serde_json::Value| {
        let profile: berth_oci::LinuxSeccomp = serde_json::from_value(v).expect("parses");
        compile_for(&profile, Arch::X86_64).expect("compiles")
    };
    let f = compile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    assert!(f.notifies());
    assert_eq!(f.flags().0, 8 | 32);
    // Without a notify rule there is no listener, and WAIT_KILLABLE_RECV
    // (refused by the kernel without one) is dropped.
    let f = compile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}),
    );
    assert!(!f.notifies());
    assert_eq!(f.flags().0, 0);
}

#[test]
fn unknown_architecture_and_flag() {
    assert_eq!(
        error(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_Z80"]})
        ),
        "seccomp: unknown architecture \"SCMP_ARCH_Z80\""
    );
    assert_eq!(
        error(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]})
        ),
        "seccomp: unknown flag \"SECCOMP_FILTER_FLAG_NEW_LISTENER\""
    );
}

#[test]
fn unknown_action_and_operator_are_refused_when_parsing() {
    let bad_action = serde_json::from_value::<berth_oci::LinuxSeccomp>(
        json!({"defaultAction": "SCMP_ACT_MAYBE"}),
    );
    assert!(bad_action
        .unwrap_err()
        .to_string()
        .contains("SCMP_ACT_MAYBE"));
    let bad_op = serde_json::from_value::<berth_oci::LinuxSeccomp>(
        json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}),
    );
    assert!(bad_op.unwrap_err().to_string().contains("SCMP_CMP_ABOUT"));
}

#[test]
fn a_filter_over_the_kernel_limit_is_refused() {
    // Every syscall of five ABIs with six 64-bit conditions: far over 4096.
    let names: Vec<&str> = Arch::X86_64.syscalls().map(|(n, _)| n).collect();
    let args: Vec<_> = (0..6)
        .map(|i| json!({"index": i, "value": 5u64 << 40, "op": "SCMP_CMP_GT"}))
        .collect();
    let err = compile_for(
        &serde_json::from_value(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
            "syscalls": [{"names": names, "action": "SCMP_ACT_KILL", "args": args}]}))
        .unwrap(),
        Arch::X86_64,
    )
    .unwrap_err();
    assert!(matches!(err, SeccompError::TooLong(n) if n > 4096), "{err}");
    assert!(
        err.to_string()
            .ends_with("more than the kernel's limit of 4096"),
        "{err}"
    );
}
