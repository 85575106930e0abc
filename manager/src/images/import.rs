//! `import`: a root filesystem tarball (plain, gzip or zstd) becomes a
//! one-layer image, like `docker import`.
//!
//! One pass over the incoming bytes decompresses them, hashes the plain tar
//! (the layer's diff ID) and stores it gzip-compressed (what registries
//! expect); the stored blob is then unpacked as the layer's snapshot. The
//! config is written by berthd: os/architecture, creation time, a history
//! entry with the commit message, and the `--change` instructions (CMD,
//! ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL).

use super::layer::{decompress, UnpackJob};
use super::pull::LeaseGuard;
use super::{ImageError, ImageService, LABEL_TAG_TIME};
use berth_docker::manifest::{self, Platform};
use berth_docker::reference::Reference;
use berth_store::digest::{Descriptor as StoreDescriptor, Digest};
use berth_store::metadata::{Labels, LeaseResource};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};
use std::time::{Duration, SystemTime};

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Name of the new image (none: dangling).
    pub reference: Option<String>,
    /// Commit message for the history entry.
    pub message: String,
    /// Dockerfile-like instructions.
    pub changes: Vec<String>,
    /// Platform recorded in the config (the daemon's when none).
    pub platform: Option<String>,
}

impl ImageService {
    /// Imports the tarball read from `input` (blocking). Returns the image
    /// ID.
    pub fn import_blocking(
        &self,
        input: &mut dyn Read,
        options: &ImportOptions,
    ) -> Result<String, ImageError> {
        let reference = options
            .reference
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(Reference::parse)
            .transpose()?;
        let platform = match options.platform.as_deref() {
            Some(p) if !p.is_empty() => Platform::parse(p)?,
            _ => self.platform.clone(),
        };
        let mut container_config = Map::new();
        for change in &options.changes {
            apply_change(&mut container_config, change)?;
        }
        let lease = LeaseGuard::create(&self.meta, "import", Duration::from_secs(3600))?;

        // One pass: decompress, hash the tar, store it gzip-compressed.
        let ingest_ref = format!("import-{}", super::random_hex());
        let writer = self.content.writer(&ingest_ref, None, None)?;
        let mut encoder = flate2::write::GzEncoder::new(writer, flate2::Compression::new(3));
        let mut hasher = Sha256::new();
        let copied = (|| -> io::Result<u64> {
            let mut tar = decompress(input)?;
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0u64;
            loop {
                let n = tar.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                encoder.write_all(&buf[..n])?;
                total += n as u64;
            }
            Ok(total)
        })();
        let writer = match copied.and_then(|_| encoder.finish()) {
            Ok(w) => w,
            Err(e) => {
                let _ = self.content.abort(&ingest_ref);
                return Err(ImageError::Io {
                    op: "read import tarball",
                    path: "<stream>".into(),
                    source: e,
                });
            }
        };
        if copied_is_empty(&writer) {
            drop(writer);
            let _ = self.content.abort(&ingest_ref);
            return Err(ImageError::InvalidArgument(
                "import: the tarball is empty".into(),
            ));
        }
        let diff_id = Digest::from_sha256(hasher);
        let info = {
            let _no_gc = self.gc_lock.read().unwrap_or_else(|e| e.into_inner());
            let info = writer.commit(None, None)?;
            lease.add(LeaseResource::Content(info.digest.clone()))?;
            info
        };
        let result = self.import_committed(
            lease,
            options,
            reference,
            platform,
            container_config,
            diff_id,
            info,
        );
        if let Err(e) = &result {
            // The lease is gone with the failure: what this import stored
            // (the layer blob, a half-made snapshot) is collected now
            // rather than left until the next prune.
            tracing::info!(error = %e, "import failed: collecting what it stored");
            let _one_at_a_time = self.gc_lock.write().unwrap_or_else(|e| e.into_inner());
            if let Err(gc) = berth_store::gc::collect(
                &self.content,
                &self.meta,
                &[self.snapshotter.as_ref()],
                &self.users.gc_roots(),
            ) {
                tracing::warn!(error = %gc, "collection after a failed import");
            }
        }
        if let Ok(id) = &result {
            self.publish("import", id);
        }
        result
    }

    /// The rest of an import once its layer blob is stored: unpack it,
    /// write config and manifest, name the image. The lease is dropped
    /// (released) when this returns.
    #[allow(clippy::too_many_arguments)]
    fn import_committed(
        &self,
        lease: LeaseGuard,
        options: &ImportOptions,
        reference: Option<Reference>,
        platform: Platform,
        container_config: Map<String, Value>,
        diff_id: Digest,
        info: berth_store::content::Info,
    ) -> Result<String, ImageError> {
        if !self.snapshot_committed(&diff_id.to_string()) {
            let job = UnpackJob {
                chain_id: diff_id.to_string(),
                parent: None,
                diff_id: diff_id.clone(),
            };
            self.unpack_reader(self.content.reader(&info.digest)?, &job, &lease)?;
        }

        let created = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        // docker's import history: no `created_by`, the message as the
        // comment, else where the tarball came from (the CLI streams it:
        // docker's `Imported from -`).
        let comment = if options.message.is_empty() {
            "Imported from -".to_string()
        } else {
            options.message.clone()
        };
        let history = json!({ "created": created, "comment": comment });
        let mut config = json!({
            "created": created,
            "architecture": platform.architecture,
            "os": platform.os,
            "config": Value::Object(container_config),
            "rootfs": { "type": "layers", "diff_ids": [diff_id.to_string()] },
            "history": [history],
        });
        if let Some(v) = &platform.variant {
            config["variant"] = json!(v);
        }
        let config_bytes = serde_json::to_vec(&config).expect("serialise config");
        let config_digest = self.write_leased_blob(&lease, &config_bytes)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest::OCI_MANIFEST,
            "config": { "mediaType": manifest::OCI_CONFIG, "digest": config_digest.to_string(), "size": config_bytes.len() },
            "layers": [{ "mediaType": manifest::OCI_LAYER_GZIP, "digest": info.digest.to_string(), "size": info.size }],
        });
        let manifest_bytes = serde_json::to_vec(&manifest).expect("serialise manifest");
        let manifest_digest = self.write_leased_blob(&lease, &manifest_bytes)?;
        let target = StoreDescriptor {
            media_type: manifest::OCI_MANIFEST.into(),
            digest: manifest_digest,
            size: manifest_bytes.len() as u64,
        };
        match reference {
            Some(r) => {
                let mut labels = Labels::new();
                labels.insert(
                    LABEL_TAG_TIME.into(),
                    super::epoch_seconds(SystemTime::now()).to_string(),
                );
                self.put_name(&r.to_string(), &target, labels)?;
            }
            None => {
                self.put_dangling(&target, Labels::new())?;
            }
        }
        Ok(config_digest.to_string())
    }
}

fn copied_is_empty(writer: &berth_store::content::ContentWriter) -> bool {
    // A gzip stream of nothing is 20 bytes; any tar is at least 1024.
    writer.offset() <= 20
}

/// Applies one Dockerfile-like instruction to a config's `config` object
/// (docker's `--change`; the instructions that make sense without a build).
pub fn apply_change(config: &mut Map<String, Value>, change: &str) -> Result<(), ImageError> {
    let change = change.trim();
    let (instruction, rest) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let rest = rest.trim();
    let bad = |why: &str| ImageError::InvalidArgument(format!("invalid change {change:?}: {why}"));
    match instruction.to_ascii_uppercase().as_str() {
        "CMD" | "ENTRYPOINT" => {
            let args = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest).map_err(|_| bad("not a JSON array of strings"))?
            } else {
                vec!["/bin/sh".into(), "-c".into(), rest.to_string()]
            };
            let key = if instruction.eq_ignore_ascii_case("CMD") { "Cmd" } else { "Entrypoint" };
            config.insert(key.into(), json!(args));
        }
        "ENV" => {
            let pairs = parse_pairs(rest).ok_or_else(|| bad("want KEY=VALUE or KEY VALUE"))?;
            let env = config.entry("Env").or_insert_with(|| json!([]));
            let list = env.as_array_mut().ok_or_else(|| bad("Env is not a list"))?;
            for (k, v) in pairs {
                list.retain(|e| e.as_str().is_none_or(|s| s.split('=').next() != Some(k.as_str())));
                list.push(json!(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            let pairs = parse_pairs(rest).ok_or_else(|| bad("want KEY=VALUE"))?;
            let labels = config.entry("Labels").or_insert_with(|| json!({}));
            for (k, v) in pairs {
                labels[k] = json!(v);
            }
        }
        "WORKDIR" if !rest.is_empty() => {
            config.insert("WorkingDir".into(), json!(rest));
        }
        "USER" if !rest.is_empty() => {
            config.insert("User".into(), json!(rest));
        }
        "STOPSIGNAL" if !rest.is_empty() => {
            config.insert("StopSignal".into(), json!(rest));
        }
        "EXPOSE" if !rest.is_empty() => {
            let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            for p in rest.split_whitespace() {
                let p = if p.contains('/') { p.to_string() } else { format!("{p}/tcp") };
                ports[p] = json!({});
            }
        }
        "VOLUME" if !rest.is_empty() => {
            let list = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest).map_err(|_| bad("not a JSON array of strings"))?
            } else {
                rest.split_whitespace().map(str::to_string).collect()
            };
            let volumes = config.entry("Volumes").or_insert_with(|| json!({}));
            for v in list {
                volumes[v] = json!({});
            }
        }
        "WORKDIR" | "USER" | "STOPSIGNAL" | "EXPOSE" | "VOLUME" => return Err(bad("missing value")),
        _ => {
            return Err(bad(
                "only CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR are supported",
            ))
        }
    }
    Ok(())
}

/// `K=V K2="v 2"` or the legacy `K V` form.
fn parse_pairs(s: &str) -> Option<Vec<(String, String)>> {
    if !s.contains('=') {
        let (k, v) = s.split_once(char::is_whitespace)?;
        return Some(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return None;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key, value));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_to_the_config() {
        let mut c = Map::new();
        apply_change(&mut c, r#"CMD ["/bin/sh","-c","echo hi"]"#).unwrap();
        apply_change(&mut c, "ENTRYPOINT /bin/true").unwrap();
        apply_change(&mut c, "ENV A=1 B=\"two words\"").unwrap();
        apply_change(&mut c, "ENV A 3").unwrap();
        apply_change(&mut c, "WORKDIR /tmp").unwrap();
        apply_change(&mut c, "LABEL x=y").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        let v = Value::Object(c);
        assert_eq!(v["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(v["Entrypoint"], json!(["/bin/sh", "-c", "/bin/true"]));
        assert_eq!(v["Env"], json!(["B=two words", "A=3"]));
        assert_eq!(v["WorkingDir"], json!("/tmp"));
        assert_eq!(v["Labels"]["x"], json!("y"));
        assert!(v["ExposedPorts"]["80/tcp"].is_object());
        assert!(v["ExposedPorts"]["53/udp"].is_object());
    }

    #[test]
    fn bad_changes_are_refused() {
        let mut c = Map::new();
        assert!(apply_change(&mut c, "RUN echo").is_err());
        assert!(apply_change(&mut c, "CMD [1,2]").is_err());
        assert!(apply_change(&mut c, "WORKDIR").is_err());
    }
}
