//! The gRPC adapters: each service of `berth.v1` is a thin layer over a
//! domain service, and domain errors become gRPC status codes here, in one
//! place.

pub mod builder;
pub mod containers;
pub mod images;
pub mod networks;
pub mod panic_guard;
pub mod system;
pub mod volumes;

use crate::images::ImageError;
use crate::registry::RegistryError;
use berth_docker::manifest::ManifestError;
use tonic::{Code, Status};

/// The gRPC status of a domain error (message unchanged: it is what the
/// user sees).
pub fn image_status(e: &ImageError) -> Status {
    let code = match e {
        _ if e.is_no_space() => Code::ResourceExhausted,
        ImageError::Reference(_) | ImageError::InvalidArgument(_) | ImageError::Archive(_) => {
            Code::InvalidArgument
        }
        ImageError::NotFound(_) => {
            // Tagged as a missing image: the CLI prints docker's
            // `Error: No such image: NAME` for it.
            let mut status = Status::new(Code::NotFound, e.to_string());
            status.metadata_mut().insert(
                berth_proto::status::MISSING,
                tonic::metadata::MetadataValue::from_static(berth_proto::status::MISSING_IMAGE),
            );
            return status;
        }
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
