//! `berth logs`: a container's output from its json-file log, streamed by
//! berthd (`-f` follows until the container exits), with docker's `--tail`,
//! `--since`/`--until` (times and durations as docker parses them) and `-t`
//! (each line prefixed with its RFC 3339 nano timestamp) and `--details`
//! (berthd puts each line's `labels`/`env` attributes before it).

use super::client;
use crate::context::Context;
use crate::CliError;
use berth_docker::timestamp::{format_timestamp, parse_log_time};
use berth_proto::v1 as pb;
use clap::Args;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_stream::StreamExt;

/// `berth logs`.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" or N).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show logs since timestamp (2013-01-02T13:23:37Z) or relative (42m).
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative (42m).
    #[arg(long)]
    pub until: Option<String>,
    /// Show timestamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show extra details provided to logs.
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

/// `--tail`: a number N, else every line. docker's daemon reads the value
/// with `strconv.Atoi` and takes anything that is not a number (`all`,
/// `abc`) or is negative as every line (daemon/logs.go), so `--tail abc`
/// prints the whole log there too.
fn parse_tail(value: &str) -> i64 {
    match value.parse::<i64>() {
        Ok(n) if n >= 0 => n,
        _ => -1,
    }
}

/// A `--since`/`--until` value as Unix nanoseconds.
fn parse_time(flag: &str, value: &str, now: SystemTime) -> Result<i64, CliError> {
    let t = parse_log_time(value, now)
        .map_err(|e| CliError::Usage(format!("invalid value for \"{flag}\": {e}")))?;
    Ok(t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0))
}

/// `berth logs`.
pub async fn logs(ctx: &Context, a: LogsArgs) -> Result<i32, CliError> {
    let now = SystemTime::now();
    let request = pb::LogsRequest {
        id: a.container.clone(),
        follow: a.follow,
        stdout: true,
        stderr: true,
        since: a
            .since
            .as_deref()
            .map(|v| parse_time("--since", v, now))
            .transpose()?
            .unwrap_or(0),
        until: a
            .until
            .as_deref()
            .map(|v| parse_time("--until", v, now))
            .transpose()?
            .unwrap_or(0),
        tail: parse_tail(&a.tail),
        details: a.details,
    };
    let mut stream = client(&ctx.host)
        .await?
        .logs(request)
        .await
        .map_err(|s| CliError::about(&a.container, s))?
        .into_inner();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let mut line = Vec::with_capacity(chunk.data.len() + 32);
        if a.timestamps {
            let t = UNIX_EPOCH + Duration::from_nanos(chunk.time.max(0) as u64);
            line.extend_from_slice(format_timestamp(t).as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(&chunk.data);
        // A closed stdout (`berth logs x | head`) ends the command quietly.
        let written = if chunk.stream == pb::OutputStream::Stderr as i32 {
            let mut e = std::io::stderr().lock();
            e.write_all(&line).and_then(|_| e.flush())
        } else {
            let mut o = std::io::stdout().lock();
            o.write_all(&line).and_then(|_| o.flush())
        };
        if written.is_err() {
            return Ok(0);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_values() {
        assert_eq!(parse_tail("all"), -1);
        assert_eq!(parse_tail("3"), 3);
        assert_eq!(parse_tail("-1"), -1);
        assert_eq!(parse_tail("x"), -1);
    }

    #[test]
    fn times_are_unix_nanos() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_600);
        assert_eq!(
            parse_time("--since", "10m", now).unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_time("--since", "1700000000", now).unwrap(),
            1_700_000_000_000_000_000
        );
        let e = parse_time("--since", "yesterday-ish", now).unwrap_err();
        assert!(e.to_string().contains("--since"), "{e}");
    }
}
