//! The image commands: pull, push, images, rmi, tag, history, save, load,
//! import, prune, login, logout.

use super::context::Context;
use super::progress::ProgressRenderer;
use super::template::{self, ListFormat};
use super::{connection, credentials, CliError};
use super::{HistoryArgs, ImagesArgs, ImportArgs, LoadArgs, LoginArgs, LogoutArgs, PruneArgs};
use super::{PullArgs, PushArgs, RmiArgs, SaveArgs, TagArgs};
use berth_docker::humanize;
use berth_docker::reference::familiar;
use berth_docker::reference::{normalize_registry_host, Reference};
use berth_docker::short_id::short_id;
use berth_proto::v1 as pb;
use serde_json::Value;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use tokio_stream::StreamExt;

/// Credentials stored for the registry of `reference`.
fn auth_for(ctx: &Context, reference: &str) -> Result<Option<pb::RegistryAuth>, CliError> {
    let Ok(r) = Reference::parse(reference) else {
        return Ok(None);
    };
    Ok(
        credentials::get(&ctx.config_dir, &r.domain)?.map(|a| pb::RegistryAuth {
            username: a.username,
            password: a.password,
            identity_token: a.identity_token,
        }),
    )
}

/// Drives a progress stream to its end; returns the final event.
async fn follow(
    mut stream: tonic::Streaming<pb::ProgressEvent>,
    quiet: bool,
) -> Result<pb::TransferDone, CliError> {
    let mut renderer = ProgressRenderer::new(quiet);
    while let Some(ev) = stream.next().await {
        renderer.event(ev?);
    }
    renderer
        .done
        .ok_or_else(|| CliError::Daemon("the transfer ended without a result".into()))
}

/// `berth pull`: streams the daemon's progress, then docker's summary lines.
pub async fn pull(ctx: &Context, a: PullArgs) -> Result<i32, CliError> {
    let reference = Reference::parse(&a.image).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut client = connection::images(&ctx.host).await?;
    // No tag typed: the last path component has no colon (a registry's
    // port, `127.0.0.1:5000/name`, is not a tag).
    let tag_typed = a.image.rsplit('/').next().is_some_and(|l| l.contains(':'));
    if !a.quiet && reference.digest.is_none() && !tag_typed {
        println!("Using default tag: latest");
    }
    let stream = client
        .pull(pb::PullRequest {
            reference: a.image.clone(),
            platform: a.platform.unwrap_or_default(),
            auth: auth_for(ctx, &a.image)?,
        })
        .await?
        .into_inner();
    let done = follow(stream, a.quiet).await?;
    if !a.quiet {
        println!("Digest: {}", done.digest);
        let shown = familiar(&done.reference);
        if done.updated {
            println!("Status: Downloaded newer image for {shown}");
        } else {
            println!("Status: Image is up to date for {shown}");
        }
    }
    println!("{}", done.reference);
    Ok(0)
}

/// `berth push`: streams progress, then `TAG: digest: D size: N`; with
/// `-a`, every tag of the repository in turn.
pub async fn push(ctx: &Context, a: PushArgs) -> Result<i32, CliError> {
    let reference = Reference::parse(&a.image).map_err(|e| CliError::Usage(e.to_string()))?;
    if !a.all_tags {
        return push_one(ctx, &a, &a.image).await;
    }
    let last = a.image.rsplit('/').next().unwrap_or_default();
    if last.contains(':') || last.contains('@') {
        return Err(CliError::Usage(
            "tag can't be used with --all-tags/-a".into(),
        ));
    }
    let mut client = connection::images(&ctx.host).await?;
    let mut names: Vec<String> = client
        .list(pb::ListImagesRequest {
            reference: reference.repository(),
            all: false,
            filters: Vec::new(),
        })
        .await?
        .into_inner()
        .images
        .into_iter()
        .map(|i| i.name)
        .filter(|n| !n.is_empty() && !n.contains('@'))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(CliError::Daemon(format!(
            "An image does not exist locally with the tag: {}",
            reference.familiar_repository()
        )));
    }
    for name in names {
        push_one(ctx, &a, &name).await?;
    }
    Ok(0)
}

/// Pushes one name, printing docker's summary line.
async fn push_one(ctx: &Context, a: &PushArgs, image: &str) -> Result<i32, CliError> {
    let reference = Reference::parse(image).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut client = connection::images(&ctx.host).await?;
    let stream = client
        .push(pb::PushRequest {
            reference: image.to_string(),
            auth: auth_for(ctx, image)?,
            platform: a.platform.clone().unwrap_or_default(),
        })
        .await?
        .into_inner();
    let done = follow(stream, a.quiet).await?;
    if a.quiet {
        println!("{}", reference.familiar());
    } else {
        println!(
            "{}: digest: {} size: {}",
            reference.tag.as_deref().unwrap_or("latest"),
            done.digest,
            done.size
        );
    }
    Ok(0)
}

fn truncate_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        short_id(id)
    }
}

/// docker's `images` table (cli/command/formatter `image.go`).
const IMAGES_TABLE: &str =
    "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}";
/// docker's `images --digests` table.
const IMAGES_TABLE_DIGESTS: &str =
    "table {{.Repository}}\\t{{.Tag}}\\t{{.Digest}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}";

/// Column titles of the `images` fields.
pub(crate) fn image_headers() -> serde_json::Map<String, Value> {
    template::headers(&[
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("ID", "IMAGE ID"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("VirtualSize", "VIRTUAL SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("Containers", "CONTAINERS"),
    ])
}

/// Go's `time.Time.String()` of a UTC time: `2006-01-02 15:04:05 +0000 UTC`
/// (docker's `CreatedAt`).
fn go_time_utc(seconds: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds.max(0) as u64);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    format!(
        "{} +0000 UTC",
        s.trim_end_matches('Z').replacen('T', " ", 1)
    )
}

/// One `images` row: every field docker's image context has, as text.
pub(crate) fn image_row(i: &pb::Image, no_trunc: bool) -> Value {
    let (repo, tag) = match Reference::parse(&i.name) {
        Ok(r) if !i.name.is_empty() => (
            r.familiar_repository(),
            r.tag.clone().unwrap_or_else(|| "<none>".into()),
        ),
        _ => ("<none>".to_string(), "<none>".to_string()),
    };
    let digest = i
        .repo_digests
        .first()
        .and_then(|d| d.split_once('@').map(|(_, d)| d.to_string()))
        .or_else(|| {
            (tag == "<none>" && !i.name.is_empty())
                .then(|| i.name.split_once('@').map(|(_, d)| d.to_string()))
                .flatten()
        })
        .unwrap_or_else(|| "<none>".into());
    template::row(
        [
            ("Repository", repo),
            ("Tag", tag),
            ("Digest", digest),
            ("ID", truncate_id(&i.id, no_trunc)),
            ("CreatedSince", humanize::ago(i.created)),
            ("CreatedAt", go_time_utc(i.created)),
            // docker: Size with 3 significant digits, VirtualSize with 4.
            ("Size", humanize::size3(i.size)),
            ("VirtualSize", humanize::size(i.size)),
            ("SharedSize", "N/A".to_string()),
            ("UniqueSize", "N/A".to_string()),
            ("Containers", "N/A".to_string()),
        ]
        .into_iter()
        .collect(),
    )
}

/// `berth images`: one row per name, newest first, through docker's
/// formatter (`--format`, `-q`, `--digests`, `--no-trunc`); `--filter` is
/// applied by berthd.
pub async fn list(ctx: &Context, a: ImagesArgs) -> Result<i32, CliError> {
    let user_format = a.format.clone().unwrap_or_default();
    // docker's NewImageFormat: -q and --digests pick a table layout only
    // when no custom format is given.
    let format = if user_format.is_empty() || user_format == "table" {
        if a.quiet {
            "{{.ID}}"
        } else if a.digests {
            IMAGES_TABLE_DIGESTS
        } else {
            IMAGES_TABLE
        }
    } else {
        user_format.as_str()
    };
    let format =
        ListFormat::parse(format, IMAGES_TABLE).map_err(|e| CliError::Other(e.to_string()))?;
    let mut client = connection::images(&ctx.host).await?;
    let resp = client
        .list(pb::ListImagesRequest {
            reference: a.repository.clone().unwrap_or_default(),
            all: a.all,
            filters: a.filter.clone(),
        })
        .await?
        .into_inner();
    let mut images = resp.images;
    // Newest first, like docker.
    images.sort_by(|x, y| y.created.cmp(&x.created).then(x.name.cmp(&y.name)));
    let rows: Vec<Value> = images.iter().map(|i| image_row(i, a.no_trunc)).collect();
    let out = format
        .render(&rows, &image_headers())
        .map_err(|e| CliError::Other(e.to_string()))?;
    print!("{out}");
    Ok(0)
}

fn print_removed(items: &[pb::RemovedItem]) {
    for item in items {
        match &item.item {
            Some(pb::removed_item::Item::Untagged(s)) => println!("Untagged: {s}"),
            Some(pb::removed_item::Item::Deleted(s)) => println!("Deleted: {s}"),
            None => {}
        }
    }
}

/// `berth rmi`: each image in turn; a failure is reported and the rest go on (exit 1).
pub async fn remove(ctx: &Context, a: RmiArgs) -> Result<i32, CliError> {
    let mut client = connection::images(&ctx.host).await?;
    let mut code = 0;
    for image in &a.images {
        match client
            .remove(pb::RemoveImageRequest {
                reference: image.clone(),
                force: a.force,
                no_prune: a.no_prune,
            })
            .await
        {
            Ok(resp) => print_removed(&resp.into_inner().items),
            Err(s) => {
                eprintln!("{}", CliError::about(image, s));
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `berth tag SOURCE TARGET`.
pub async fn tag(ctx: &Context, a: TagArgs) -> Result<i32, CliError> {
    let mut client = connection::images(&ctx.host).await?;
    client
        .tag(pb::TagImageRequest {
            source: a.source,
            target: a.target,
        })
        .await?;
    Ok(0)
}

/// docker's `history` table (cli/command/image `formatter_history.go`).
const HISTORY_TABLE: &str =
    "table {{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}";

/// Column titles of the `history` fields.
fn history_headers() -> serde_json::Map<String, Value> {
    template::headers(&[
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ])
}

/// `berth history`: the config's history entries, newest first, with layer
/// sizes, through docker's formatter (`--format`, `-q`, `--human`,
/// `--no-trunc`).
pub async fn history(ctx: &Context, a: HistoryArgs) -> Result<i32, CliError> {
    let user_format = a.format.clone().unwrap_or_default();
    let format = if a.quiet && (user_format.is_empty() || user_format == "table") {
        "{{.ID}}"
    } else {
        user_format.as_str()
    };
    let format =
        ListFormat::parse(format, HISTORY_TABLE).map_err(|e| CliError::Other(e.to_string()))?;
    let mut client = connection::images(&ctx.host).await?;
    let detail = client
        .inspect(pb::InspectImageRequest {
            reference: a.image.clone(),
        })
        .await?
        .into_inner();
    let id = detail
        .image
        .as_ref()
        .map(|i| i.id.clone())
        .unwrap_or_default();
    let layer_sizes: Vec<i64> = detail.layers.iter().map(|l| l.unpacked_size).collect();
    let items = berth_docker::types::image::history(&id, &detail.config, &layer_sizes, &[]);
    let mut rows = Vec::new();
    for h in items {
        let image = if h.id == "<missing>" {
            h.id.clone()
        } else {
            truncate_id(&h.id, a.no_trunc)
        };
        let created_secs = h.created;
        let created_at = created_secs
            .map(|t| {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64),
                )
                .to_string()
            })
            .unwrap_or_else(|| "N/A".into());
        let created_since = if a.human {
            created_secs
                .map(humanize::ago)
                .unwrap_or_else(|| "N/A".into())
        } else {
            created_at.clone()
        };
        let mut by = h.created_by.replace('\t', " ");
        if !a.no_trunc && by.chars().count() > 45 {
            by = by.chars().take(44).collect::<String>() + "…";
        }
        let size = if a.human {
            humanize::size3(h.size)
        } else {
            h.size.to_string()
        };
        rows.push(template::row(
            [
                ("ID", image),
                ("CreatedSince", created_since),
                ("CreatedAt", created_at),
                ("CreatedBy", by),
                ("Size", size),
                ("Comment", h.comment.clone()),
            ]
            .into_iter()
            .collect(),
        ));
    }
    let out = format
        .render(&rows, &history_headers())
        .map_err(|e| CliError::Other(e.to_string()))?;
    print!("{out}");
    Ok(0)
}

/// `berth save`: the archive goes to a temp file renamed at the end (`-o`), or to a non-terminal stdout.
pub async fn save(ctx: &Context, a: SaveArgs) -> Result<i32, CliError> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
        ));
    }
    let mut client = connection::images(&ctx.host).await?;
    let mut stream = client
        .save(pb::SaveImagesRequest {
            references: a.images.clone(),
            format: a.format.clone(),
        })
        .await?
        .into_inner();
    // Into a temp file renamed at the end: a failed save leaves no file.
    let (mut out, tmp): (Box<dyn Write>, Option<(PathBuf, PathBuf)>) = match &a.output {
        Some(path) => {
            let tmp = path.with_file_name(format!(
                ".{}.berth-tmp",
                path.file_name()
                    .map(|f| f.to_string_lossy().to_string())
                    .unwrap_or_default()
            ));
            let f = std::fs::File::create(&tmp).map_err(|source| CliError::Io {
                op: "create",
                path: tmp.display().to_string(),
                source,
            })?;
            (
                Box::new(std::io::BufWriter::new(f)),
                Some((tmp, path.clone())),
            )
        }
        None => (Box::new(std::io::stdout().lock()), None),
    };
    let result: Result<(), CliError> = async {
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk?.data).map_err(|source| CliError::Io {
                op: "write",
                path: a
                    .output
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "stdout".into()),
                source,
            })?;
        }
        out.flush().map_err(|source| CliError::Io {
            op: "flush",
            path: "output".into(),
            source,
        })
    }
    .await;
    drop(out);
    match (result, tmp) {
        (Ok(()), Some((tmp, path))) => {
            std::fs::rename(&tmp, &path).map_err(|source| CliError::Io {
                op: "rename",
                path: path.display().to_string(),
                source,
            })?
        }
        (Ok(()), None) => {}
        (Err(e), tmp) => {
            if let Some((tmp, _)) = tmp {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(e);
        }
    }
    Ok(0)
}

/// Streams a file (or stdin) as chunks, reading on a blocking thread.
fn read_chunks<T: Send + 'static>(
    input: Option<PathBuf>,
    wrap: impl Fn(Vec<u8>) -> T + Send + 'static,
) -> Result<tokio_stream::wrappers::ReceiverStream<T>, CliError> {
    let mut reader: Box<dyn Read + Send> = match &input {
        Some(p) if p.as_os_str() != "-" => {
            Box::new(std::fs::File::open(p).map_err(|source| CliError::Io {
                op: "open",
                path: p.display().to_string(),
                source,
            })?)
        }
        _ => Box::new(std::io::stdin()),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    std::thread::spawn(move || loop {
        let mut buf = vec![0u8; 1 << 20];
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.truncate(n);
                if tx.blocking_send(wrap(buf)).is_err() {
                    break;
                }
            }
        }
    });
    Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// `berth load`: streams the archive from `-i FILE` or stdin.
pub async fn load(ctx: &Context, a: LoadArgs) -> Result<i32, CliError> {
    if a.input.is_none() && std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "requested load from stdin, but stdin is empty".into(),
        ));
    }
    let mut client = connection::images(&ctx.host).await?;
    let chunks = read_chunks(a.input.clone(), |data| pb::DataChunk { data })?;
    let resp = client.load(chunks).await?.into_inner();
    if !a.quiet {
        for line in resp.loaded {
            println!("{line}");
        }
    }
    Ok(0)
}

/// `berth import FILE|- [REF]`: streams the tarball; prints the new image ID.
pub async fn import(ctx: &Context, a: ImportArgs) -> Result<i32, CliError> {
    if let Some(r) = &a.reference {
        Reference::parse(r).map_err(|e| CliError::Usage(e.to_string()))?;
    }
    let mut client = connection::images(&ctx.host).await?;
    let options = pb::ImportRequest {
        part: Some(pb::import_request::Part::Options(pb::ImportOptions {
            reference: a.reference.clone().unwrap_or_default(),
            message: a.message.clone(),
            changes: a.change.clone(),
            platform: a.platform.clone().unwrap_or_default(),
        })),
    };
    let input = (a.file != "-").then(|| PathBuf::from(&a.file));
    let data = read_chunks(input, |data| pb::ImportRequest {
        part: Some(pb::import_request::Part::Data(data)),
    })?;
    let stream = tokio_stream::once(options).chain(data);
    let resp = client.import(stream).await?.into_inner();
    println!("{}", resp.image_id);
    Ok(0)
}

/// `berth image prune [-a] [-f]`: asks first unless `-f`, as every docker prune.
pub async fn prune(ctx: &Context, a: PruneArgs) -> Result<i32, CliError> {
    if !a.force {
        let what = if a.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        // docker asks whatever stdin is (a pipe's "y" answers it; no
        // answer is a no) and, declined, reclaims nothing.
        if !super::container::prune::confirm(&format!("WARNING! This will remove {what}.")) {
            println!("Total reclaimed space: {}", humanize::size(0));
            return Ok(0);
        }
    }
    let mut client = connection::images(&ctx.host).await?;
    let resp = client
        .prune(pb::PruneImagesRequest { all: a.all })
        .await?
        .into_inner();
    if !resp.items.is_empty() {
        println!("Deleted Images:");
        for item in &resp.items {
            match &item.item {
                Some(pb::removed_item::Item::Untagged(s)) => println!("untagged: {s}"),
                Some(pb::removed_item::Item::Deleted(s)) => println!("deleted: {s}"),
                None => {}
            }
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        humanize::size(resp.space_reclaimed)
    );
    Ok(0)
}

/// `berth login`: berthd checks the credentials against the registry; they are stored only when it accepts them.
pub async fn login(ctx: &Context, a: LoginArgs) -> Result<i32, CliError> {
    let server = normalize_registry_host(a.server.as_deref().unwrap_or(""));
    let username = match a.username {
        Some(u) => u,
        None => {
            if !std::io::stdin().is_terminal() {
                return Err(CliError::Usage(
                    "cannot prompt for a user name: stdin is not a terminal (use -u)".into(),
                ));
            }
            eprint!("Username: ");
            let mut u = String::new();
            let _ = std::io::stdin().read_line(&mut u);
            u.trim().to_string()
        }
    };
    let password = if a.password_stdin {
        let mut p = String::new();
        std::io::stdin()
            .read_to_string(&mut p)
            .map_err(|source| CliError::Io {
                op: "read password from",
                path: "stdin".into(),
                source,
            })?;
        p.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else {
        return Err(CliError::Usage(
            "a password is required: use --password-stdin or -p".into(),
        ));
    };
    if username.is_empty() {
        return Err(CliError::Usage("a user name is required".into()));
    }
    let mut client = connection::images(&ctx.host).await?;
    let resp = client
        .login(pb::LoginRequest {
            server: server.clone(),
            auth: Some(pb::RegistryAuth {
                username: username.clone(),
                password: password.clone(),
                identity_token: String::new(),
            }),
        })
        .await?
        .into_inner();
    let stored = credentials::store(
        &ctx.config_dir,
        &server,
        &credentials::StoredAuth {
            username,
            password,
            identity_token: resp.identity_token,
        },
    )?;
    if let credentials::StoredIn::File(path) = stored {
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.",
            path.display()
        );
    }
    println!("{}", resp.status);
    Ok(0)
}

/// `berth logout`: forgets the stored credentials of a registry.
pub fn logout(ctx: &Context, a: LogoutArgs) -> Result<i32, CliError> {
    let server = normalize_registry_host(a.server.as_deref().unwrap_or(""));
    if credentials::erase(&ctx.config_dir, &server)? {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}
