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

/// A private CNI set-up for one test: a conf dir with a bridge network on
/// its own bridge and /24, host-local leases in the test's dir, and a bin
/// dir of links to Debian's plugins (plus any fake plugin a test adds).
/// Dropping it deletes the bridge.
pub struct PodNetwork {
    pub dir: crate::TestDir,
    pub conf_dir: std::path::PathBuf,
    pub bin_dir: std::path::PathBuf,
    pub lease_dir: std::path::PathBuf,
    pub bridge: String,
    pub network: String,
    /// `10.231.N.` (the pods get .2 and up).
    pub subnet_prefix: String,
}

static NETWORKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl PodNetwork {
    /// A bridge network whose plugins are `extra` after the bridge
    /// (`{"type": "portmap", ...}`).
    pub fn new(extra: &[serde_json::Value]) -> PodNetwork {
        let n = NETWORKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = crate::TestDir::new("cni");
        let conf_dir = dir.join("net.d");
        let bin_dir = dir.join("bin");
        let lease_dir = dir.join("leases");
        std::fs::create_dir_all(&conf_dir).unwrap();
        std::fs::create_dir_all(&bin_dir).unwrap();
        for plugin in ["bridge", "host-local", "loopback", "portmap"] {
            std::os::unix::fs::symlink(
                std::path::Path::new("/usr/lib/cni").join(plugin),
                bin_dir.join(plugin),
            )
            .unwrap();
        }
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let bridge = format!("btc{tag}");
        let network = format!("bt-cri-{tag}");
        let octet = (std::process::id() as usize * 7 + n) % 200 + 20;
        let subnet_prefix = format!("10.231.{octet}.");
        let mut plugins = vec![serde_json::json!({
            "type": "bridge",
            "bridge": bridge,
            "isGateway": true,
            "ipMasq": false,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": format!("{subnet_prefix}0/24")}]],
                "dataDir": lease_dir,
            }
        })];
        plugins.extend(extra.iter().cloned());
        let conf = serde_json::json!({
            "cniVersion": "0.4.0",
            "name": network,
            "plugins": plugins,
        });
        std::fs::write(conf_dir.join("10-bt.conflist"), conf.to_string()).unwrap();
        PodNetwork {
            dir,
            conf_dir,
            bin_dir,
            lease_dir,
            bridge,
            network,
            subnet_prefix,
        }
    }

    /// daemon.json keys pointing berthd at this set-up.
    pub fn daemon_json(&self) -> String {
        serde_json::json!({
            "cni-conf-dir": self.conf_dir,
            "cni-bin-dir": self.bin_dir,
        })
        .to_string()
    }

    /// The addresses host-local has leased (its lease files).
    pub fn leases(&self) -> Vec<String> {
        let dir = self.lease_dir.join(&self.network);
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("10."))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// The host ends of veths enslaved to the bridge.
    pub fn veths(&self) -> Vec<String> {
        let out = std::process::Command::new("ip")
            .args(["-br", "link", "show", "master", &self.bridge])
            .output()
            .expect("run ip");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(|s| s.split('@').next().unwrap_or(s).to_string())
            .collect()
    }
}

/// Kills, on drop, the infra processes of the pods berthd recorded under
/// its root and unpins their netns, so a failed test leaves none. Declare
/// it after the berthd: it must drop first, while the records exist.
pub struct PodReaper {
    root: std::path::PathBuf,
}

impl PodReaper {
    pub fn new(root: &std::path::Path) -> PodReaper {
        PodReaper {
            root: root.to_path_buf(),
        }
    }
}

impl Drop for PodReaper {
    fn drop(&mut self) {
        {
            let root = &self.root;
            for entry in std::fs::read_dir(root.join("pods"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let Ok(text) = std::fs::read(entry.path()) else {
                    continue;
                };
                let Ok(record) = serde_json::from_slice::<serde_json::Value>(&text) else {
                    continue;
                };
                if let Some(pid) = record["infra"]["pid"].as_u64() {
                    let comm =
                        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    if comm.trim() == "berth-pause" {
                        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                    }
                }
                if let Some(ns) = record["netns"].as_str() {
                    let c = std::ffi::CString::new(ns).unwrap();
                    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
                }
            }
        }
    }
}

impl Drop for PodNetwork {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
    }
}
