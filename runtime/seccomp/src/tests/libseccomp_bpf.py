#!/usr/bin/python3
"""Builds, for each OCI seccomp profile in a JSON list, the filter that runc 1.1
would get from libseccomp (python3-seccomp, Debian's libseccomp 2.5), following
runc's libcontainer/seccomp/seccomp_linux.go: the native ABI plus the listed
ones, rules whose action equals the default dropped, names libseccomp does not
know skipped, one rule per name with all of its conditions. (runc's ENOSYS stub
is not part of libseccomp; the Rust side accounts for it.)

For each filter it returns the BPF program libseccomp generates, and the
decisions of libseccomp's own pseudo filter code (PFC, seccomp_export_pfc: the
rule tree before BPF generation) on the given inputs, run by translating the PFC
to Python (with the x32-bit test the BPF makes and the PFC leaves out). The two
disagree where libseccomp's BPF generation has bugs.

Usage: libseccomp_bpf.py IN.json OUT.json
IN: [{"profile": {...}, "inputs": [[arch, nr, a0, ..., a5], ...]}, ...]
OUT: per entry {"bpf": [[code, jt, jf, k], ...], "pfc": [action, ...]} or {"error": "..."}.
"""

import json
import re
import struct
import sys
import tempfile

import seccomp

ARCHES = {
    "SCMP_ARCH_X86_64": seccomp.Arch.X86_64,
    "SCMP_ARCH_X86": seccomp.Arch.X86,
    "SCMP_ARCH_X32": seccomp.Arch.X32,
    "SCMP_ARCH_AARCH64": seccomp.Arch.AARCH64,
    "SCMP_ARCH_ARM": seccomp.Arch.ARM,
    "SCMP_ARCH_PPC64LE": seccomp.Arch.PPC64LE,
}
OPS = {
    "SCMP_CMP_EQ": seccomp.EQ,
    "SCMP_CMP_NE": seccomp.NE,
    "SCMP_CMP_LT": seccomp.LT,
    "SCMP_CMP_LE": seccomp.LE,
    "SCMP_CMP_GT": seccomp.GT,
    "SCMP_CMP_GE": seccomp.GE,
    "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ,
}


def action(name, errno_ret):
    """runc's getAction."""
    return {
        "SCMP_ACT_ALLOW": lambda: seccomp.ALLOW,
        "SCMP_ACT_KILL": lambda: seccomp.KILL,
        "SCMP_ACT_KILL_THREAD": lambda: seccomp.KILL,
        "SCMP_ACT_KILL_PROCESS": lambda: seccomp.KILL_PROCESS,
        "SCMP_ACT_TRAP": lambda: seccomp.TRAP,
        "SCMP_ACT_ERRNO": lambda: seccomp.ERRNO(1 if errno_ret is None else errno_ret),
        "SCMP_ACT_TRACE": lambda: seccomp.TRACE(1 if errno_ret is None else errno_ret),
        "SCMP_ACT_LOG": lambda: seccomp.LOG,
    }[name]()


ACTIONS = {
    "ALLOW": 0x7FFF0000,
    "KILL": 0,
    "KILL_PROCESS": 0x80000000,
    "TRAP": 0x00030000,
    "LOG": 0x7FFC0000,
}


def pfc_action(text):
    m = re.fullmatch(r"(ERRNO|TRACE)\((\d+)\)", text)
    if m:
        return (0x00050000 if m.group(1) == "ERRNO" else 0x7FF00000) | int(m.group(2))
    return ACTIONS[text]


def pfc_to_python(pfc):
    """Translates libseccomp's PFC (nested if/else, 2 spaces a level) to a
    Python function decide(arch, nr, lo, hi) -> action."""
    out = ["def decide(arch, nr, lo, hi):"]
    # The PFC tests only $arch, and x32 shares x86_64's AUDIT_ARCH value: tell
    # the two apart by the x32 bit as the BPF does (without x32 in the filter
    # an x32 number is a bad architecture, except -1).
    has_x32 = "# filter for arch x32 " in pfc
    section = None
    for line in pfc.splitlines():
        body = line.lstrip(" ")
        m = re.match(r"# filter for arch (\w+) ", body)
        if m:
            section = m.group(1)
        if not body or body.startswith("#"):
            continue
        if body.startswith("if ($arch == ") and section in ("x86_64", "x32"):
            if section == "x32":
                extra = "nr >= 0x40000000"
            elif has_x32:
                extra = "nr < 0x40000000"
            else:
                extra = "(nr < 0x40000000 or nr == 0xffffffff)"
            pad = "    " * (1 + (len(line) - len(body)) // 2)
            out.append(f"{pad}if arch == {body[13:-1]} and {extra}:")
            section = None
            continue
        pad = "    " * (1 + (len(line) - len(body)) // 2)
        if body.startswith("if ("):
            cond = body[4:-1]
            cond = re.sub(r"\$a(\d)\.hi32", r"hi[\1]", cond)
            cond = re.sub(r"\$a(\d)\.lo32", r"lo[\1]", cond)
            cond = re.sub(r"\$a(\d)", r"lo[\1]", cond)
            cond = cond.replace("$arch", "arch").replace("$syscall", "nr")
            cond = re.sub(r"^(\S+) & (0x[0-9a-f]+) == (\d+)$", r"(\1 & \2) == \3", cond)
            out.append(f"{pad}if {cond}:")
        elif body == "else":
            out.append(f"{pad}else:")
        elif body.startswith("action "):
            out.append(f"{pad}return {pfc_action(body[7:-1])}")
        else:
            raise ValueError(f"unexpected PFC line: {line!r}")
    # A block with nothing in it needs a pass.
    lines = []
    for i, line in enumerate(out):
        lines.append(line)
        if line.endswith(":"):
            indent = len(line) - len(line.lstrip())
            nxt = out[i + 1] if i + 1 < len(out) else ""
            if len(nxt) - len(nxt.lstrip()) <= indent:
                lines.append(" " * (indent + 4) + "pass")
    scope = {}
    exec("\n".join(lines), scope)
    return scope["decide"]


def build(profile):
    default = action(profile["defaultAction"], profile.get("defaultErrnoRet"))
    f = seccomp.SyscallFilter(default)
    for name in profile.get("architectures", []):
        arch = ARCHES[name]
        if not f.exist_arch(arch):
            f.add_arch(arch)
    for sc in profile.get("syscalls", []):
        act = action(sc["action"], sc.get("errnoRet"))
        if act == default:
            continue
        for name in sc["names"]:
            # libseccomp-golang's GetSyscallFromName fails on __NR_SCMP_ERROR
            # (-1); runc then ignores the name ("unknown seccomp syscall").
            try:
                if seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) == -1:
                    continue
            except Exception:
                continue
            args = [
                seccomp.Arg(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo") or 0)
                for a in sc.get("args", [])
            ]
            f.add_rule(act, name, *args)
    with tempfile.TemporaryFile() as t:
        f.export_bpf(t)
        t.seek(0)
        raw = t.read()
    with tempfile.TemporaryFile(mode="w+") as t:
        f.export_pfc(t)
        t.seek(0)
        pfc = t.read()
    bpf = [list(struct.unpack("=HBBI", raw[i:i + 8])) for i in range(0, len(raw), 8)]
    return bpf, pfc_to_python(pfc)


def main():
    entries = json.load(open(sys.argv[1]))
    out = []
    for entry in entries:
        try:
            bpf, decide = build(entry["profile"])
        except Exception as e:  # reported per profile; the Rust side counts them
            out.append({"error": f"{type(e).__name__}: {e}"})
            continue
        pfc = []
        for arch, nr, *args in entry["inputs"]:
            lo = [a & 0xFFFFFFFF for a in args]
            hi = [a >> 32 for a in args]
            pfc.append(decide(arch, nr, lo, hi))
        out.append({"bpf": bpf, "pfc": pfc})
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
