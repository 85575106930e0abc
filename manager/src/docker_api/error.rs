//! The Docker API's errors: `{"message": ...}` with docker's status codes,
//! mapped once here from the domain error types (never from message text).

use crate::containers::ContainerError;
use crate::images::ImageError;
use crate::networks::NetworkError;
use crate::volumes::VolumeError;
use hyper::StatusCode;

/// An error answer: its status and docker's one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: a bad parameter or body.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 for a path docker does not serve either.
    pub fn page_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "page not found")
    }

    /// 501: an endpoint or option Berth does not have (README lists them).
    pub fn not_implemented(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("not implemented: {what}"),
        )
    }

    /// 500 with what failed.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The same status with docker's prefix on the message (`Cannot kill
    /// container: ID: ...`).
    pub fn prefixed(self, prefix: &str) -> ApiError {
        ApiError {
            status: self.status,
            message: format!("{prefix}{}", self.message),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

/// docker's status of a container error.
impl From<ContainerError> for ApiError {
    fn from(e: ContainerError) -> ApiError {
        use crate::containers::spec::SpecError;
        let status = match &e {
            ContainerError::NotFound(_)
            | ContainerError::ImageNotFound(_)
            | ContainerError::PathNotFound(_) => StatusCode::NOT_FOUND,
            ContainerError::Conflict(_) | ContainerError::FailedPrecondition(_) => {
                StatusCode::CONFLICT
            }
            ContainerError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            ContainerError::Spec(s) if s.is_invalid_argument() => StatusCode::BAD_REQUEST,
            ContainerError::Spec(SpecError::NotImplemented(_))
            | ContainerError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ContainerError::Image(_) => {
                let ContainerError::Image(i) = e else {
                    unreachable!()
                };
                return ApiError::from(*i);
            }
            ContainerError::Volume(_) => {
                let ContainerError::Volume(v) = e else {
                    unreachable!()
                };
                return ApiError::from(v);
            }
            ContainerError::Network(_) => {
                let ContainerError::Network(n) = e else {
                    unreachable!()
                };
                return ApiError::from(n);
            }
            // docker answers a process that could not start with 400
            // ("OCI runtime create failed", its errdefs.InvalidParameter).
            ContainerError::StartFailed { .. } | ContainerError::ExecFailed(_) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// docker's status of an image error.
impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> ApiError {
        use crate::registry::RegistryError;
        let status = match &e {
            ImageError::Reference(_) | ImageError::InvalidArgument(_) | ImageError::Archive(_) => {
                StatusCode::BAD_REQUEST
            }
            ImageError::NotFound(_) => StatusCode::NOT_FOUND,
            ImageError::Conflict(_) => StatusCode::CONFLICT,
            ImageError::Registry(r) => match r.as_ref() {
                RegistryError::NotFound { .. } | RegistryError::ManifestUnknown { .. } => {
                    StatusCode::NOT_FOUND
                }
                RegistryError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ImageError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// docker's status of a network error.
impl From<NetworkError> for ApiError {
    fn from(e: NetworkError) -> ApiError {
        let status = match &e {
            NetworkError::NotFound(_) => StatusCode::NOT_FOUND,
            NetworkError::Conflict(_) | NetworkError::FailedPrecondition(_) => StatusCode::CONFLICT,
            NetworkError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            NetworkError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// docker's status of a volume error.
impl From<VolumeError> for ApiError {
    fn from(e: VolumeError) -> ApiError {
        let status = match &e {
            VolumeError::NotFound(_) => StatusCode::NOT_FOUND,
            VolumeError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            VolumeError::InUse { .. } => StatusCode::CONFLICT,
            VolumeError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_errors_get_dockers_codes_by_type() {
        let code = |e: ContainerError| ApiError::from(e).status.as_u16();
        assert_eq!(code(ContainerError::NotFound("x".into())), 404);
        assert_eq!(code(ContainerError::ImageNotFound("x".into())), 404);
        assert_eq!(code(ContainerError::Conflict("x".into())), 409);
        assert_eq!(code(ContainerError::InvalidArgument("x".into())), 400);
        assert_eq!(code(ContainerError::NotImplemented("x".into())), 501);
        assert_eq!(code(ContainerError::Internal("x".into())), 500);
        assert_eq!(
            code(ContainerError::Network(NetworkError::NotFound("n".into()))),
            404
        );
        assert_eq!(
            ApiError::from(ContainerError::NotFound("abc".into())).message,
            "No such container: abc"
        );
    }
}
