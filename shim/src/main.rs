//! `berth-shim`: the per-container supervisor (see the library docs).
//!
//! ```text
//! berth-shim --id ID --bundle DIR --state-dir DIR [--runtime PATH]
//!            [--runtime-root DIR] [--socket-dir DIR]
//!     starts a shim for container ID; prints its socket path and exits
//!     while the shim goes on in the background
//! berth-shim status --state-dir DIR
//!     says what the state dir records about a shim and its container
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use berth_shim::address::{self, DEFAULT_SOCKET_DIR};
use berth_shim::daemon::{daemonize, Reporter};
use berth_shim::record::{ShimRecord, ADDRESS_FILE, SHIM_LOG_FILE, SHIM_PID_FILE};
use berth_shim::server::{serve, write_state_file, ServeOptions};
use berth_shim::task::TaskConfig;

const USAGE: &str = "usage: berth-shim --id ID --bundle DIR --state-dir DIR [--runtime PATH] [--runtime-root DIR] [--socket-dir DIR]\n       berth-shim status --state-dir DIR";

struct Args {
    id: String,
    bundle: PathBuf,
    state_dir: PathBuf,
    runtime: PathBuf,
    runtime_root: Option<PathBuf>,
    socket_dir: PathBuf,
}

fn main() {
    // A panic ends the shim as `panic = "abort"` did (the workspace unwinds
    // for berthd, see Cargo.toml): a half-unwound shim would keep the
    // container's stdio and exit file in an unknown state.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::abort();
    }));
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let result = if args.first().is_some_and(|a| a == "status") {
        status(&args[1..])
    } else {
        start(&args)
    };
    if let Err(e) = result {
        eprintln!("berth-shim: {e:#}");
        std::process::exit(1);
    }
}

/// `--flag value` pairs.
fn flags(args: &[OsString]) -> anyhow::Result<Vec<(String, OsString)>> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let flag = flag.to_string_lossy().into_owned();
        if !flag.starts_with("--") {
            bail!("unexpected argument {flag:?}\n{USAGE}");
        }
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        out.push((flag, value.clone()));
    }
    Ok(out)
}

fn status(args: &[OsString]) -> anyhow::Result<()> {
    let mut state_dir = None;
    for (flag, value) in flags(args)? {
        match flag.as_str() {
            "--state-dir" => state_dir = Some(PathBuf::from(value)),
            _ => bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    let dir = state_dir.with_context(|| format!("--state-dir is required\n{USAGE}"))?;
    println!("{}", ShimRecord::read(&dir)?.describe());
    Ok(())
}

fn parse(args: &[OsString]) -> anyhow::Result<Args> {
    let (mut id, mut bundle, mut state_dir, mut runtime, mut runtime_root) =
        (None, None, None, None, None);
    let mut socket_dir = PathBuf::from(DEFAULT_SOCKET_DIR);
    for (flag, value) in flags(args)? {
        match flag.as_str() {
            "--id" => id = Some(value.to_string_lossy().into_owned()),
            "--bundle" => bundle = Some(PathBuf::from(value)),
            "--state-dir" => state_dir = Some(PathBuf::from(value)),
            "--runtime" => runtime = Some(PathBuf::from(value)),
            "--runtime-root" => runtime_root = Some(PathBuf::from(value)),
            "--socket-dir" => socket_dir = PathBuf::from(value),
            _ => bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    let id: String = id.with_context(|| format!("--id is required\n{USAGE}"))?;
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        bail!("container id {id:?} is invalid: use letters, digits, '_', '.', '-'");
    }
    let bundle = absolute(&bundle.with_context(|| format!("--bundle is required\n{USAGE}"))?)?;
    if !bundle.join("config.json").is_file() {
        bail!("bundle {} has no config.json", bundle.display());
    }
    let state_dir =
        absolute(&state_dir.with_context(|| format!("--state-dir is required\n{USAGE}"))?)?;
    let runtime = find_runtime(runtime.unwrap_or_else(|| PathBuf::from("berth-runtime")))?;
    Ok(Args {
        id,
        bundle,
        state_dir,
        runtime,
        runtime_root: runtime_root.map(|r| absolute(&r)).transpose()?,
        socket_dir: absolute(&socket_dir)?,
    })
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("resolve path {}", p.display()))
}

/// A runtime named without a slash is looked for next to this binary, then
/// on PATH.
fn find_runtime(runtime: PathBuf) -> anyhow::Result<PathBuf> {
    let is_exe = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if runtime.components().count() > 1 {
        let abs = absolute(&runtime)?;
        if !is_exe(&abs) {
            bail!("runtime {} is not an executable file", abs.display());
        }
        return Ok(abs);
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(&runtime)));
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(&runtime))
                .collect()
        })
        .unwrap_or_default();
    beside
        .into_iter()
        .chain(on_path)
        .find(|p| is_exe(p))
        .with_context(|| {
            format!(
                "runtime {} not found next to berth-shim or on PATH",
                runtime.display()
            )
        })
}

fn start(args: &[OsString]) -> anyhow::Result<()> {
    let args = parse(args)?;
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("create state dir {}", args.state_dir.display()))?;
    let address = daemonize(|reporter| run_shim(args, reporter))?;
    println!("{address}");
    Ok(())
}

/// The daemonized shim: sets itself up, reports, serves, exits.
fn run_shim(args: Args, reporter: Reporter) -> i32 {
    match setup(&args) {
        Ok((socket_path, listener)) => {
            reporter.ok(&socket_path.to_string_lossy());
            berth_shim::memory::trim_file_mappings();
            let stem = address::socket_stem(&args.state_dir, &args.id);
            let options = ServeOptions {
                task: TaskConfig {
                    id: args.id,
                    bundle: args.bundle,
                    state_dir: args.state_dir,
                    socket_dir: args.socket_dir,
                    socket_stem: stem,
                },
                runtime: args.runtime,
                runtime_root: args.runtime_root,
                socket_path,
            };
            match serve(options, listener) {
                Ok(_) => 0,
                Err(e) => {
                    eprintln!("berth-shim: {e:#}");
                    1
                }
            }
        }
        Err(e) => {
            eprintln!("berth-shim: {e:#}");
            reporter.error(&format!("{e:#}"));
            1
        }
    }
}

fn setup(args: &Args) -> anyhow::Result<(PathBuf, std::os::unix::net::UnixListener)> {
    // The shim's stderr is its log; stdin and stdout go nowhere.
    let log_path = args.state_dir.join(SHIM_LOG_FILE);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("open shim log {}", log_path.display()))?;
    let null = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("open /dev/null")?;
    rustix::stdio::dup2_stdin(&null).context("redirect stdin")?;
    rustix::stdio::dup2_stdout(&null).context("redirect stdout")?;
    rustix::stdio::dup2_stderr(&log).context("redirect stderr")?;
    std::env::set_current_dir("/").context("chdir /")?;
    // PR_SET_CHILD_SUBREAPER (prctl(2)): the container's init is reparented
    // to the shim, not to PID 1, when the runtime's create exits.
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .context("become child subreaper")?;
    let stem = address::socket_stem(&args.state_dir, &args.id);
    let (socket_path, listener) =
        address::bind(&args.socket_dir, &stem, &args.id, &args.state_dir)?;
    write_state_file(
        &args.state_dir,
        SHIM_PID_FILE,
        &std::process::id().to_string(),
    )?;
    write_state_file(
        &args.state_dir,
        ADDRESS_FILE,
        &socket_path.to_string_lossy(),
    )?;
    Ok((socket_path, listener))
}
