//! `berth build`: sends the context and the options to berthd's builder and
//! draws its progress as BuildKit's plain view (`#N [stage k/n] INSTR`,
//! the step's output with its time, `CACHED`, `DONE 1.2s`, `ERROR: ...`).
//!
//! The context is a directory (sent as a tar, the way `docker export`
//! writes a tree), `-` with a tar on stdin (plain or compressed), or `-`
//! with a Dockerfile on stdin and no context, as docker's CLI tells them
//! apart. `-f` is read relative to the current directory: a Dockerfile
//! inside the context is named by its path there; one outside it is sent
//! inline. `.dockerignore` is applied by berthd to what COPY and ADD read.

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use berth_proto::v1 as pb;
use clap::Args;
use tokio_stream::StreamExt;

use crate::context::Context;
use crate::{connection, CliError};

/// `berth build` flags (docker's).
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format.
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads it from stdin).
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables.
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image.
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image.
    #[arg(long)]
    pub pull: bool,
    /// Set metadata for an image.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Suppress the build output and print image ID on success.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image ID to the file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Set type of progress output (auto, plain, tty).
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Set the networking mode for the RUN instructions during build (default, none, host).
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host")]
    pub add_hosts: Vec<String>,
    /// Secret file to expose to the build: id=mysecret,src=/local/secret.
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// Set platform if server is multi-platform capable.
    #[arg(long)]
    pub platform: Option<String>,
    /// Output destination (type=image, type=local,dest=DIR, type=tar,dest=FILE, type=oci,dest=FILE).
    #[arg(short = 'o', long = "output")]
    pub outputs: Vec<String>,
    /// PATH | URL | -
    pub context: String,
}

/// How the build's result is delivered (`-o`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Output {
    Image,
    Local(PathBuf),
    Tar(PathBuf),
    Oci(PathBuf),
}

fn parse_output(spec: &str) -> Result<Output, CliError> {
    let mut kind = None;
    let mut dest = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_string()),
            Some(("dest", v)) => dest = Some(PathBuf::from(v)),
            Some((k, _)) => {
                return Err(CliError::Usage(format!("unexpected key '{k}' in '{spec}'")))
            }
            // `-o DIR` is `type=local,dest=DIR`.
            None if kind.is_none() && !part.is_empty() => {
                kind = Some("local".into());
                dest = Some(PathBuf::from(part));
            }
            None => return Err(CliError::Usage(format!("invalid value '{spec}'"))),
        }
    }
    let need_dest = |d: Option<PathBuf>, t: &str| {
        d.ok_or_else(|| CliError::Usage(format!("dest is required for {t} exporter")))
    };
    match kind.as_deref() {
        Some("image") | Some("docker") | Some("moby") => Ok(Output::Image),
        Some("local") => Ok(Output::Local(need_dest(dest, "local")?)),
        Some("tar") => Ok(Output::Tar(need_dest(dest, "tar")?)),
        Some("oci") => Ok(Output::Oci(need_dest(dest, "oci")?)),
        Some(other) => Err(CliError::Usage(format!(
            "invalid output type {other:?}: want image, local, tar or oci"
        ))),
        None => Err(CliError::Usage(format!(
            "invalid output {spec:?}: type is required"
        ))),
    }
}

/// `--secret id=ID,src=FILE` (also `source=`, `type=file`, `env=VAR`).
fn read_secret(spec: &str) -> Result<(String, Vec<u8>), CliError> {
    let mut id = None;
    let mut src = None;
    let mut env = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("id", v)) => id = Some(v.to_string()),
            Some(("src" | "source", v)) => src = Some(v.to_string()),
            Some(("env", v)) => env = Some(v.to_string()),
            Some(("type", "file" | "env")) => {}
            _ => {
                return Err(CliError::Usage(format!(
                    "invalid secret {spec:?}: want id=ID,src=FILE"
                )))
            }
        }
    }
    let id = id
        .or_else(|| {
            src.as_ref()
                .and_then(|s| Path::new(s).file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .ok_or_else(|| CliError::Usage(format!("invalid secret {spec:?}: id is required")))?;
    if let Some(var) = env {
        let value = std::env::var(&var).map_err(|_| {
            CliError::Usage(format!(
                "secret {id}: environment variable {var} is not set"
            ))
        })?;
        return Ok((id, value.into_bytes()));
    }
    let src =
        src.ok_or_else(|| CliError::Usage(format!("invalid secret {spec:?}: src is required")))?;
    let data = std::fs::read(&src).map_err(|source| CliError::Io {
        op: "read secret",
        path: src.clone(),
        source,
    })?;
    Ok((id, data))
}

/// Whether `head` starts a tar stream (plain or compressed) rather than a
/// Dockerfile (docker's CLI tells them apart the same way).
fn looks_like_archive(head: &[u8]) -> bool {
    let compressed = head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || head.starts_with(b"BZh")
        || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]);
    compressed || (head.len() >= 262 && &head[257..262] == b"ustar")
}

/// A reader that sends its bytes as build data messages.
fn send_reader(mut reader: Box<dyn Read + Send>, tx: tokio::sync::mpsc::Sender<pb::BuildRequest>) {
    std::thread::spawn(move || loop {
        let mut buf = vec![0u8; 1 << 20];
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.truncate(n);
                let msg = pb::BuildRequest {
                    options: None,
                    data: buf,
                };
                if tx.blocking_send(msg).is_err() {
                    break;
                }
            }
        }
    });
}

/// A writer that sends what it is given as build data messages.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<pb::BuildRequest>,
    buf: Vec<u8>,
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let msg = pb::BuildRequest {
            options: None,
            data: std::mem::take(&mut self.buf),
        };
        self.tx
            .blocking_send(msg)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "build ended"))
    }
}

/// `berth build`.
pub async fn build(ctx: &Context, a: BuildArgs) -> Result<i32, CliError> {
    let outputs = a
        .outputs
        .iter()
        .map(|o| parse_output(o))
        .collect::<Result<Vec<_>, _>>()?;
    if outputs.len() > 1 {
        return Err(CliError::Usage("multiple outputs are not supported".into()));
    }
    let output = outputs.into_iter().next().unwrap_or(Output::Image);
    if output != Output::Image {
        return Err(CliError::Other(
            "not implemented: berth build -o type=local|tar|oci (only type=image)".into(),
        ));
    }
    match a.progress.as_str() {
        "auto" | "plain" | "tty" => {}
        other => {
            return Err(CliError::Usage(format!(
                "invalid progress mode {other:?}: want auto, plain or tty"
            )))
        }
    }
    let mut build_args = HashMap::new();
    for arg in &a.build_args {
        match arg.split_once('=') {
            Some((k, v)) => {
                build_args.insert(k.to_string(), v.to_string());
            }
            // A bare name takes the CLI's environment, and is left out when unset.
            None => {
                if let Ok(v) = std::env::var(arg) {
                    build_args.insert(arg.clone(), v);
                }
            }
        }
    }
    let mut labels = HashMap::new();
    for l in &a.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    for h in &a.add_hosts {
        if h.split_once(':')
            .is_none_or(|(n, ip)| n.is_empty() || ip.is_empty())
        {
            return Err(CliError::Usage(format!(
                "invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\""
            )));
        }
    }
    let mut secrets = HashMap::new();
    for s in &a.secrets {
        let (id, data) = read_secret(s)?;
        secrets.insert(id, data);
    }
    for t in &a.tags {
        berth_docker::reference::Reference::parse(t).map_err(|e| {
            CliError::Usage(format!(
                "invalid argument \"{t}\" for \"-t, --tag\" flag: {e}"
            ))
        })?;
    }

    // The context and the Dockerfile.
    let mut dockerfile = String::new();
    let mut dockerfile_content = None;
    let stdin_dockerfile = a.file.as_deref() == Some("-");
    let context_source: ContextSource = if a.context == "-" {
        if stdin_dockerfile {
            return Err(CliError::Usage(
                "invalid argument: can't use stdin for both build context and dockerfile".into(),
            ));
        }
        let mut head = vec![0u8; 512];
        let mut filled = 0;
        let mut stdin = std::io::stdin();
        while filled < head.len() {
            match stdin.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => {
                    return Err(CliError::Io {
                        op: "read",
                        path: "stdin".into(),
                        source: e,
                    })
                }
            }
        }
        head.truncate(filled);
        if looks_like_archive(&head) {
            if let Some(f) = &a.file {
                dockerfile = f.clone();
            }
            ContextSource::Stream(Box::new(std::io::Cursor::new(head).chain(stdin)))
        } else {
            let mut content = head;
            stdin.read_to_end(&mut content).map_err(|e| CliError::Io {
                op: "read",
                path: "stdin".into(),
                source: e,
            })?;
            dockerfile_content = Some(content);
            ContextSource::Empty
        }
    } else {
        let dir = PathBuf::from(&a.context);
        let meta = std::fs::metadata(&dir).map_err(|_| CliError::Status {
            code: 1,
            message: format!("unable to prepare context: path {:?} not found", a.context),
        })?;
        if !meta.is_dir() {
            return Err(CliError::Status {
                code: 1,
                message: format!(
                    "unable to prepare context: context must be a directory: {}",
                    a.context
                ),
            });
        }
        if stdin_dockerfile {
            let mut content = Vec::new();
            std::io::stdin()
                .read_to_end(&mut content)
                .map_err(|e| CliError::Io {
                    op: "read",
                    path: "stdin".into(),
                    source: e,
                })?;
            dockerfile_content = Some(content);
        } else {
            let path = match &a.file {
                Some(f) => PathBuf::from(f),
                None => dir.join("Dockerfile"),
            };
            let canonical_dir = dir.canonicalize().map_err(|e| CliError::Io {
                op: "resolve",
                path: a.context.clone(),
                source: e,
            })?;
            let canonical = path.canonicalize().map_err(|_| {
                CliError::Status { code: 1, message: format!(
                "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                    path.display()
                ) }
            })?;
            match canonical.strip_prefix(&canonical_dir) {
                Ok(rel) => dockerfile = rel.to_string_lossy().into_owned(),
                Err(_) => {
                    dockerfile_content =
                        Some(std::fs::read(&canonical).map_err(|e| CliError::Io {
                            op: "read",
                            path: canonical.display().to_string(),
                            source: e,
                        })?);
                    dockerfile = canonical
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                }
            }
        }
        ContextSource::Dir(dir)
    };

    let mut auth = HashMap::new();
    if let Ok(text) = std::fs::read_to_string(ctx.config_dir.join("config.json")) {
        if let Ok(config) = serde_json::from_str::<serde_json::Value>(&text) {
            if let Some(auths) = config.get("auths").and_then(|v| v.as_object()) {
                for host in auths.keys() {
                    if let Ok(Some(a)) = crate::credentials::get(&ctx.config_dir, host) {
                        auth.insert(
                            host.clone(),
                            pb::RegistryAuth {
                                username: a.username,
                                password: a.password,
                                identity_token: a.identity_token,
                            },
                        );
                    }
                }
            }
        }
    }
    let options = pb::BuildOptions {
        tags: a.tags.clone(),
        dockerfile,
        dockerfile_inline: dockerfile_content.is_some(),
        dockerfile_content: dockerfile_content.unwrap_or_default(),
        build_args,
        target: a.target.clone().unwrap_or_default(),
        no_cache: a.no_cache,
        pull: a.pull,
        labels,
        network: a.network.clone(),
        extra_hosts: a.add_hosts.clone(),
        secrets,
        platform: a.platform.clone().unwrap_or_default(),
        auth,
    };

    let mut client = connection::builder(&ctx.host).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(pb::BuildRequest {
        options: Some(options),
        data: Vec::new(),
    })
    .await
    .map_err(|_| CliError::Other("build: could not send options".into()))?;
    match context_source {
        ContextSource::Empty => drop(tx),
        ContextSource::Stream(reader) => send_reader(reader, tx),
        ContextSource::Dir(dir) => {
            std::thread::spawn(move || {
                let mut writer = ChunkWriter {
                    tx,
                    buf: Vec::new(),
                };
                if let Err(e) = berth_docker::archive::export::export(&dir, &mut writer) {
                    eprintln!("berth: send build context {}: {e}", dir.display());
                    return;
                }
                let _ = writer.flush();
            });
        }
    }
    let mut stream = client
        .build(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut view = PlainView::new(a.quiet);
    let done = loop {
        match stream.next().await {
            Some(Ok(pb::BuildEvent { event: Some(e) })) => {
                if let pb::build_event::Event::Done(d) = e {
                    break d;
                }
                view.event(e);
            }
            Some(Ok(_)) => {}
            Some(Err(status)) => {
                view.flush_failed();
                return Err(CliError::Status {
                    code: 1,
                    message: format!("ERROR: failed to solve: {}", status.message()),
                });
            }
            None => {
                return Err(CliError::Status {
                    code: 1,
                    message: "ERROR: failed to solve: the build ended without a result".into(),
                })
            }
        }
    };
    view.exported(&done);
    if let Some(path) = &a.iidfile {
        std::fs::write(path, &done.image_id).map_err(|e| CliError::Io {
            op: "write",
            path: path.display().to_string(),
            source: e,
        })?;
    }
    if a.quiet {
        println!("{}", done.image_id);
    }
    Ok(0)
}

enum ContextSource {
    Empty,
    Stream(Box<dyn Read + Send>),
    Dir(PathBuf),
}

/// BuildKit's plain progress on stderr.
struct PlainView {
    quiet: bool,
    started: HashMap<u32, (String, std::time::Instant)>,
    /// Output of each vertex (for the failure summary).
    logs: HashMap<u32, Vec<u8>>,
    failed: Option<u32>,
    next: u32,
    err: std::io::Stderr,
}

impl PlainView {
    fn new(quiet: bool) -> Self {
        Self {
            quiet,
            started: HashMap::new(),
            logs: HashMap::new(),
            failed: None,
            next: 1,
            err: std::io::stderr(),
        }
    }

    fn line(&mut self, text: &str) {
        if !self.quiet {
            let _ = writeln!(self.err, "{text}");
        }
    }

    fn event(&mut self, e: pb::build_event::Event) {
        use pb::build_event::Event;
        match e {
            Event::Started(s) => {
                self.line("");
                self.line(&format!("#{} {}", s.vertex, s.name));
                self.next = self.next.max(s.vertex + 1);
                self.started
                    .insert(s.vertex, (s.name, std::time::Instant::now()));
            }
            Event::Log(l) => {
                let at = self
                    .started
                    .get(&l.vertex)
                    .map(|(_, t)| t.elapsed().as_secs_f64())
                    .unwrap_or(0.0);
                self.logs.entry(l.vertex).or_default().extend(&l.data);
                let text = String::from_utf8_lossy(&l.data).into_owned();
                for line in text.lines() {
                    self.line(&format!("#{} {at:.3} {line}", l.vertex));
                }
            }
            Event::Completed(c) => {
                if !c.error.is_empty() {
                    self.failed = Some(c.vertex);
                    self.line(&format!("#{} ERROR: {}", c.vertex, c.error));
                } else if c.cached {
                    self.line(&format!("#{} CACHED", c.vertex));
                } else {
                    self.line(&format!("#{} DONE {:.1}s", c.vertex, c.seconds));
                }
            }
            Event::Message(m) => self.line(&m),
            Event::Done(_) => {}
        }
    }

    /// The failed step's name and its last output lines, as BuildKit's summary.
    fn flush_failed(&mut self) {
        let Some(v) = self.failed else {
            return;
        };
        let name = self
            .started
            .get(&v)
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        let tail: Vec<String> = self
            .logs
            .get(&v)
            .map(|l| {
                let text = String::from_utf8_lossy(l).into_owned();
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(10);
                lines[from..].iter().map(|l| l.to_string()).collect()
            })
            .unwrap_or_default();
        // Always shown: the user must see what failed even with -q.
        let _ = writeln!(self.err, "------\n > {name}:");
        for l in tail {
            let _ = writeln!(self.err, "{l}");
        }
        let _ = writeln!(self.err, "------");
    }

    fn exported(&mut self, done: &pb::BuildDone) {
        let v = self.next;
        self.line("");
        self.line(&format!("#{v} exporting to image"));
        self.line(&format!("#{v} writing image {} done", done.image_id));
        for t in &done.tags {
            self.line(&format!("#{v} naming to {t} done"));
        }
        self.line(&format!("#{v} DONE 0.0s"));
        let _ = std::io::stderr().is_terminal();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_as_docker() {
        assert_eq!(parse_output("type=image").unwrap(), Output::Image);
        assert_eq!(
            parse_output("type=local,dest=out").unwrap(),
            Output::Local("out".into())
        );
        assert_eq!(parse_output("out").unwrap(), Output::Local("out".into()));
        assert!(parse_output("type=tar").is_err());
        assert!(parse_output("type=bogus,dest=x").is_err());
    }

    #[test]
    fn archives_are_told_from_dockerfiles() {
        assert!(looks_like_archive(&[0x1f, 0x8b, 8, 0]));
        assert!(!looks_like_archive(b"FROM busybox\nRUN true\n"));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert!(looks_like_archive(&tar));
    }
}

/// `berth builder ...`.
#[derive(clap::Subcommand, Debug)]
pub enum BuilderCommand {
    /// Remove build cache.
    Prune(BuilderPruneArgs),
}

/// `berth builder prune` flags.
#[derive(Args, Debug)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// `berth builder prune [-a] [-f]`: asks first unless `-f`, as docker's.
pub async fn builder(ctx: &Context, c: BuilderCommand) -> Result<i32, CliError> {
    let BuilderCommand::Prune(a) = c;
    if !a.force
        && !crate::container::prune::confirm("WARNING! This will remove all dangling build cache.")
    {
        println!("Total reclaimed space: 0B");
        return Ok(0);
    }
    let mut client = connection::builder(&ctx.host).await?;
    let resp = client
        .prune_cache(pb::PruneBuildCacheRequest { all: a.all })
        .await?
        .into_inner();
    if !resp.deleted.is_empty() {
        println!("Deleted build cache objects:");
        for id in &resp.deleted {
            println!("{}", &id[..id.len().min(25)]);
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        berth_docker::humanize::size(resp.space_reclaimed as i64)
    );
    Ok(0)
}
