//! Tests of berth-seccomp: compiled programs run in a classic-BPF interpreter
//! ([`interp`]) against expectations and against a reference evaluator of the
//! profile ([`reference`]); podman's default profile; bad input; and real-kernel
//! tests that install filters in forked children ([`kernel`], root only).

mod bad_input;
mod engine_profile;
mod interp;
mod kernel;
mod libseccomp;
mod podman;
mod program;
mod reference;
