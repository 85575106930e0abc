//! A Kubernetes CRI v1 client for the tests, over the code generated from
//! the same vendored protos berthd serves (`berth_proto::cri::v1`): both
//! services on one unix socket, each call run to completion on a private
//! current-thread runtime so tests stay synchronous.

use berth_proto::cri::v1 as pb;
use pb::image_service_client::ImageServiceClient;
use pb::runtime_service_client::RuntimeServiceClient;
use std::path::Path;
use tonic::transport::Channel;

pub use pb::*;

/// A CRI client connected to one socket (berthd's or containerd's).
pub struct CriClient {
    rt: tokio::runtime::Runtime,
    clients: CriServices,
}

/// The two CRI services' generated clients.
pub struct CriServices {
    pub runtime: RuntimeServiceClient<Channel>,
    pub images: ImageServiceClient<Channel>,
}

impl CriClient {
    /// Connects to the CRI socket at `path`.
    pub fn connect(path: &Path) -> CriClient {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let channel = rt
            .block_on(berth_proto::dial_unix(path))
            .unwrap_or_else(|e| panic!("connect to CRI socket {}: {e}", path.display()));
        CriClient {
            rt,
            clients: CriServices {
                runtime: RuntimeServiceClient::new(channel.clone())
                    .max_decoding_message_size(64 << 20),
                images: ImageServiceClient::new(channel).max_decoding_message_size(64 << 20),
            },
        }
    }

    /// Runs one call: `cri.call(|c| c.images.list_images(req))`.
    pub fn call<'a, T, F, Fut>(&'a mut self, f: F) -> Result<T, tonic::Status>
    where
        F: FnOnce(&'a mut CriServices) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.rt
            .block_on(f(&mut self.clients))
            .map(tonic::Response::into_inner)
    }

    /// `ImageStatus` of `image` (verbose when asked).
    pub fn image_status(
        &mut self,
        image: &str,
        verbose: bool,
    ) -> Result<ImageStatusResponse, tonic::Status> {
        let req = ImageStatusRequest {
            image: Some(spec(image)),
            verbose,
        };
        self.call(|c| c.images.image_status(req))
    }

    /// `PullImage` of `image` with `auth`; the image ref answered.
    pub fn pull(&mut self, image: &str, auth: Option<AuthConfig>) -> Result<String, tonic::Status> {
        let req = PullImageRequest {
            image: Some(spec(image)),
            auth,
            sandbox_config: None,
        };
        self.call(|c| c.images.pull_image(req)).map(|r| r.image_ref)
    }

    /// `ListImages`, filtered to `image` when given.
    pub fn list_images(&mut self, image: Option<&str>) -> Vec<Image> {
        let req = ListImagesRequest {
            filter: image.map(|i| ImageFilter {
                image: Some(spec(i)),
            }),
        };
        self.call(|c| c.images.list_images(req))
            .expect("ListImages")
            .images
    }

    /// `RemoveImage` of `image`.
    pub fn remove_image(&mut self, image: &str) -> Result<(), tonic::Status> {
        let req = RemoveImageRequest {
            image: Some(spec(image)),
        };
        self.call(|c| c.images.remove_image(req)).map(drop)
    }
}

/// An `ImageSpec` naming `image`.
pub fn spec(image: &str) -> ImageSpec {
    ImageSpec {
        image: image.to_string(),
        ..Default::default()
    }
}
