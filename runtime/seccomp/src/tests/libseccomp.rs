//! Differential test against libseccomp, the library runc and crun compile
//! profiles with: random profiles are compiled by us and, the way runc does,
//! by Debian's libseccomp 2.5 (through python3-seccomp, `libseccomp_bpf.py`),
//! and must decide random `seccomp_data` the same way.
//!
//! libseccomp gives two answers: the BPF it generates, run here in the
//! interpreter, and the decision of its own rule tree (its "pseudo filter
//! code", evaluated by the script). Where they agree, we must agree with both.
//! Where they do not, libseccomp 2.5.4's BPF generator is wrong (seen: an ABI
//! section losing its `ld [nr]` when a profile names a syscall neither the
//! native nor that ABI has; the accumulator holding another argument than the
//! code after a merged jump expects, on 32-bit ABIs); those inputs are counted
//! and skipped. Also skipped, where runtimes knowingly differ: inputs where
//! conditional rules with different actions both hold, and x86 `ipc` inputs
//! when a SysV IPC rule has conditions (see `multiplexed_on_x86`).
//!
//! runc's ENOSYS stub (not part of libseccomp) is applied on top of
//! libseccomp's answer.

use std::process::Command;

use berth_oci::LinuxSeccomp;
use serde_json::{json, Value};

use super::interp::{check, run, SeccompData};
use super::reference::{all_names, ambiguous, random_data, random_profile, Rng, IPC_CALLS};
use crate::action::SECCOMP_RET_ERRNO;
use crate::arch::X32_SYSCALL_BIT;
use crate::{compile_for, Arch, Instruction};

const PYTHON: &str = "/usr/bin/python3";

/// libseccomp's BPF and pseudo-code decisions for each (profile, inputs).
struct Libseccomp {
    bpf: Vec<Instruction>,
    pfc: Vec<u32>,
}

fn libseccomp(cases: &[(LinuxSeccomp, Vec<SeccompData>)]) -> Vec<Option<Libseccomp>> {
    let dir = std::env::temp_dir().join(format!("bt{}-seccomp-libseccomp", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("in.json"), dir.join("out.json"));
    let entries: Vec<Value> = cases
        .iter()
        .map(|(profile, inputs)| {
            let inputs: Vec<Value> = inputs
                .iter()
                .map(|d| {
                    let mut v = vec![json!(d.arch), json!(d.nr)];
                    v.extend(d.args.iter().map(|a| json!(a)));
                    Value::Array(v)
                })
                .collect();
            json!({"profile": profile, "inputs": inputs})
        })
        .collect();
    std::fs::write(&input, serde_json::to_vec(&entries).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/src/tests/libseccomp_bpf.py");
    let out = Command::new(PYTHON)
        .args([script.as_ref(), input.as_os_str(), output.as_os_str()])
        .output()
        .expect("run /usr/bin/python3");
    let results = std::fs::read(&output);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{script} failed (is python3-seccomp installed? apt-get install python3-seccomp): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&results.unwrap()).unwrap();
    results
        .into_iter()
        .map(|r| {
            let Some(bpf) = r.get("bpf") else {
                if std::env::var_os("BT_SECCOMP_SHOW_REFUSED").is_some() {
                    eprintln!("libseccomp refused: {}", r["error"]);
                }
                return None;
            };
            let bpf = bpf.as_array().unwrap();
            Some(Libseccomp {
                bpf: bpf
                    .iter()
                    .map(|i| Instruction {
                        code: i[0].as_u64().unwrap() as u16,
                        jt: i[1].as_u64().unwrap() as u8,
                        jf: i[2].as_u64().unwrap() as u8,
                        k: i[3].as_u64().unwrap() as u32,
                    })
                    .collect(),
                pfc: r["pfc"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as u32)
                    .collect(),
            })
        })
        .collect()
}

/// What runc's ENOSYS stub returns before libseccomp's filter runs, if
/// anything: written after runc's patchbpf/enosys_linux.go, independently of
/// our compiler. For a non-permissive default action and an ABI named in
/// `architectures` (x86_64 and x32 told apart by bit 30 of the number, as
/// runc's `jset` does), a number above the highest one any rule names for that
/// ABI gets ENOSYS.
fn runc_enosys_stub(profile: &LinuxSeccomp, data: &SeccompData) -> Option<u32> {
    use berth_oci::SeccompAction::{Allow, Log, Trace};
    if matches!(profile.default_action, Allow | Log | Trace) {
        return None;
    }
    let abi = if data.arch == Arch::X86_64.audit_arch() {
        if data.nr & X32_SYSCALL_BIT != 0 {
            Arch::X32
        } else {
            Arch::X86_64
        }
    } else {
        Arch::ALL
            .into_iter()
            .find(|a| a.audit_arch() == data.arch)?
    };
    if !profile.architectures.iter().any(|a| a == abi.scmp_name()) {
        return None;
    }
    let largest = profile
        .syscalls
        .iter()
        .flat_map(|sc| &sc.names)
        .filter_map(|name| abi.syscall_number(name))
        .max()
        .unwrap_or(0);
    (largest != 0 && data.nr > largest).then_some(SECCOMP_RET_ERRNO | libc::ENOSYS as u32)
}

#[cfg(target_arch = "x86_64")]
#[test]
fn random_profiles_behave_as_under_libseccomp() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let names = all_names();
    let cases: Vec<(LinuxSeccomp, Vec<SeccompData>)> = (0..600)
        .map(|_| {
            let profile = random_profile(&mut rng, &names, true);
            let inputs = (0..60).map(|_| random_data(&mut rng, &profile)).collect();
            (profile, inputs)
        })
        .collect();
    let theirs = libseccomp(&cases);
    let (mut compared, mut refused, mut inconsistent) = (0, 0, 0);
    let x86 = Arch::X86.audit_arch();
    for (i, ((profile, inputs), lib)) in cases.iter().zip(&theirs).enumerate() {
        let Some(lib) = lib else {
            if std::env::var_os("BT_SECCOMP_SHOW_REFUSED").is_some() {
                eprintln!(
                    "refused profile: {}",
                    serde_json::to_string(profile).unwrap()
                );
            }
            refused += 1;
            continue;
        };
        check(&lib.bpf);
        // libseccomp's ipc rules for IPC rules with conditions are not well
        // defined (see `multiplexed_on_x86`): x86 ipc inputs are skipped then.
        let ipc_with_args = profile.syscalls.iter().any(|sc| {
            !sc.args.is_empty()
                && sc
                    .names
                    .iter()
                    .any(|n| IPC_CALLS.iter().any(|(c, _)| c == n))
        });
        let ours = compile_for(profile, Arch::X86_64).unwrap();
        for (data, &pfc) in inputs.iter().zip(&lib.pfc) {
            if ambiguous(profile, Arch::X86_64, data)
                || (data.arch == x86 && data.nr == 117 && ipc_with_args)
            {
                continue;
            }
            let bpf = run(&lib.bpf, data);
            if bpf != pfc {
                inconsistent += 1;
                continue;
            }
            let want = runc_enosys_stub(profile, data).unwrap_or(bpf);
            let got = run(ours.instructions(), data);
            assert_eq!(
                got,
                want,
                "profile {i}, data {data:?}: we return {got:#x}, runc + libseccomp {want:#x}\nprofile: {}",
                serde_json::to_string(profile).unwrap()
            );
            compared += 1;
        }
    }
    eprintln!(
        "compared {compared} inputs with libseccomp; it refused {refused} of {} profiles; \
         its BPF contradicted its own rule tree on {inconsistent} inputs",
        cases.len()
    );
    assert!(
        refused < cases.len() / 10,
        "libseccomp refused {refused} profiles"
    );
    assert!(compared > 20_000, "only {compared} inputs compared");
}
