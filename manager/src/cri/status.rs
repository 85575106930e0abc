//! Domain errors as the CRI's gRPC status codes: one place, by error type,
//! never by message text. The message is the domain's own one-line text (a
//! kubelet logs it as the reason of a failed pull or start).

use crate::images::ImageError;
use crate::pods::PodError;
use crate::registry::RegistryError;
use berth_docker::manifest::ManifestError;
use tonic::{Code, Status};

/// `Unimplemented` for a CRI call berthd does not serve yet: the message
/// names the call, as the project's "not implemented: ..." errors do.
pub fn not_implemented(rpc: &str) -> Status {
    Status::unimplemented(format!("not implemented: CRI {rpc}"))
}

/// A request that lacks a field the call cannot do without.
pub fn missing_field(rpc: &str, field: &str) -> Status {
    Status::invalid_argument(format!("{rpc}: {field} is required"))
}

/// The status of an images domain error.
pub fn image_status(e: &ImageError) -> Status {
    let code = match e {
        _ if e.is_no_space() => Code::ResourceExhausted,
        ImageError::Reference(_) | ImageError::InvalidArgument(_) | ImageError::Archive(_) => {
            Code::InvalidArgument
        }
        ImageError::NotFound(_) => Code::NotFound,
        ImageError::Conflict(_) => Code::FailedPrecondition,
        ImageError::Registry(r) => match r.as_ref() {
            RegistryError::NotFound { .. } | RegistryError::ManifestUnknown { .. } => {
                Code::NotFound
            }
            RegistryError::Unauthorized { .. } => Code::Unauthenticated,
            RegistryError::Http { .. } => Code::Unavailable,
            _ => Code::Unknown,
        },
        ImageError::Manifest(m) => match m.as_ref() {
            ManifestError::InvalidPlatform(_) => Code::InvalidArgument,
            ManifestError::NoMatchingPlatform { .. } => Code::NotFound,
            ManifestError::NestedIndex { .. } => Code::Unimplemented,
            _ => Code::DataLoss,
        },
        ImageError::DigestMismatch { .. } | ImageError::SizeMismatch { .. } => Code::DataLoss,
        ImageError::Download { .. } => Code::Unavailable,
        ImageError::Store(_) | ImageError::Io { .. } => Code::Internal,
        ImageError::Cancelled(_) => Code::Cancelled,
        ImageError::NotImplemented(_) => Code::Unimplemented,
    };
    Status::new(code, e.to_string())
}

/// The status of a pods domain error.
pub fn pod_status(e: &PodError) -> Status {
    let code = match e {
        PodError::NotFound(_) => Code::NotFound,
        PodError::NameInUse { .. } => Code::AlreadyExists,
        PodError::InvalidArgument(_) => Code::InvalidArgument,
        PodError::NotImplemented(_) => Code::Unimplemented,
        PodError::NetworkNotReady(_) => Code::FailedPrecondition,
        PodError::Cni(_) | PodError::Io { .. } => Code::Internal,
    };
    Status::new(code, e.to_string())
}

/// A blocking task that died (panicked) before answering.
pub fn task_failed(rpc: &str, e: tokio::task::JoinError) -> Status {
    Status::internal(format!("{rpc}: task failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_error_type() {
        assert_eq!(
            image_status(&ImageError::NotFound("busybox".into())).code(),
            Code::NotFound
        );
        assert_eq!(
            image_status(&ImageError::InvalidArgument("bad".into())).code(),
            Code::InvalidArgument
        );
        assert_eq!(
            image_status(&ImageError::NotImplemented("nested image indexes")).code(),
            Code::Unimplemented
        );
        let s = not_implemented("RunPodSandbox");
        assert_eq!(s.code(), Code::Unimplemented);
        assert_eq!(s.message(), "not implemented: CRI RunPodSandbox");
    }
}
