//! [`apply_tar`]: one streaming pass over a layer tar, creating each entry through directory
//! fds resolved without following symlinks.

use std::io::Read;
use std::path::Path;

use crate::layer::{Applied, ApplyOptions, LayerError};

/// Applies the uncompressed layer tar read from `tar` to the directory `target` (which must
/// exist) and returns its diff ID and size. See the module doc for what is created and the
/// safety rules. The whole stream is read (and hashed), including the padding after the tar's
/// end marker. Nothing is fsynced per file; the caller syncs once if it needs durability.
pub fn apply_tar<R: Read>(
    tar: R,
    target: &Path,
    options: ApplyOptions,
) -> Result<Applied, LayerError> {
    let _ = (tar, target, options);
    Err(LayerError::NotImplemented("apply_tar"))
}
