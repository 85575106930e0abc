//! The Kubernetes CRI v1 adapter (`runtime.v1`, the API a kubelet speaks to
//! its container runtime): a third adapter beside `api/` (berth.v1) and
//! `docker_api/`, over the same domain services, on its own unix socket
//! (`<state>/cri.sock` by default, `berthd --cri-address` or daemon.json
//! `cri-address`; mode 0660 root:berth like the API socket, never TCP).
//!
//! ```text
//! server    the socket's tonic server: both CRI services on one listener
//! runtime   RuntimeService: Version, Status (NetworkReady from the CNI config),
//!           RuntimeConfig, and the sandbox calls; the container, streaming and
//!           stats calls answer `Unimplemented` ("not implemented: CRI <Rpc>")
//! sandbox   Run/Stop/Remove/Status/ListPodSandbox over the pods domain (pods/)
//! image     ImageService over the images domain: ListImages, StreamImages,
//!           ImageStatus (verbose), PullImage (auth, digest references),
//!           RemoveImage (idempotent), ImageFsInfo
//! status    domain errors become gRPC codes here, once, by type
//! ```
//!
//! Pod sandboxes live in the pods domain (`crate::pods`: records, the
//! infra process, CNI); this adapter only maps `runtime.v1` to it.
//!
//! The CRI's view of images is containerd's: one `Image` per image ID (the
//! config digest), its `repo_tags` the names of every record resolving to it
//! and its `repo_digests` the `repository@digest` names it was pulled by; a
//! pull answers the image ID, which a kubelet passes back as the image of
//! the containers it creates. Every wire type (`berth_proto::cri::v1`)
//! stays inside this module.

pub mod image;
pub mod runtime;
pub mod sandbox;
pub mod server;
pub mod status;

/// `runtime_api_version` in `Version`: the CRI version served.
pub const CRI_API_VERSION: &str = "v1";
/// `runtime_name` in `Version`.
pub const RUNTIME_NAME: &str = "berth";
/// `version` in `Version`: the kubelet runtime API's own version string,
/// which every CRI runtime (containerd, CRI-O) reports as 0.1.0.
pub const KUBELET_API_VERSION: &str = "0.1.0";
