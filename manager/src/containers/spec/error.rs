//! The one error type of spec making: every parser and [`super::build_spec`]
//! return a [`SpecError`], rendered as one lower-case line that names the bad
//! input the way docker's messages do, so the CLI can print it as it is.

/// What went wrong turning an image config and a user's options into an OCI
/// spec. Everything but [`SpecError::NotImplemented`] and [`SpecError::Io`]
/// is the caller's input: the gRPC adapter maps those to `InvalidArgument`
/// (see [`SpecError::is_invalid_argument`]).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A flag value or option that does not parse or is not allowed; the
    /// message names it (`invalid size: '12x'`).
    #[error("{0}")]
    Invalid(String),
    /// Neither the image nor the user gave a command (docker's wording).
    #[error("no command specified")]
    NoCommand,
    /// `-u NAME` with no such entry in the image's /etc/passwd (docker's wording).
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UserNotFound(String),
    /// `-u USER:GROUP` or `--group-add NAME` with no such entry in the
    /// image's /etc/group (docker's wording).
    #[error("unable to find group {0}: no matching entries in group file")]
    GroupNotFound(String),
    /// The image's config blob is not the JSON image-spec describes.
    #[error("parse image config: {0}")]
    ImageConfig(#[source] serde_json::Error),
    /// A seccomp profile given with `--security-opt seccomp=` does not parse.
    #[error("parse seccomp profile: {0}")]
    SeccompProfile(#[source] serde_json::Error),
    /// A size in docker's form that does not parse (`--tmpfs size=12x`).
    #[error(transparent)]
    Size(#[from] berth_docker::size::SizeError),
    /// A feature Berth does not have yet; rendered `not implemented: ...`.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    /// Reading or creating something on the host (the rootfs's /etc/passwd,
    /// a bind source, the working directory) failed.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl SpecError {
    /// Whether the error is the caller's bad input (gRPC `InvalidArgument`)
    /// rather than a missing feature or a host failure.
    pub fn is_invalid_argument(&self) -> bool {
        !matches!(self, SpecError::NotImplemented(_) | SpecError::Io { .. })
    }

    /// An [`SpecError::Invalid`] from a message.
    pub(crate) fn invalid(msg: impl Into<String>) -> SpecError {
        SpecError::Invalid(msg.into())
    }
}
