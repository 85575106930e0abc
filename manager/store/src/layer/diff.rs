//! [`write_diff`]: a snapshot's own changes as a layer tar.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::layer::{Applied, LayerError, WhiteoutStyle};

/// Writes the changes in `upper` relative to the tree made of `lowers` (nearest first) as a
/// layer tar to `out`. With [`WhiteoutStyle::Overlay`], `upper` is an overlay upperdir: its
/// whiteout devices become `.wh.<name>` entries and opaque directories get `.wh..wh..opq`.
/// With [`WhiteoutStyle::Delete`], `upper` is a full tree compared file by file with the
/// lower tree (names missing from it become `.wh.` entries). Returns the diff ID and size.
pub fn write_diff(
    lowers: &[PathBuf],
    upper: &Path,
    style: WhiteoutStyle,
    out: &mut dyn Write,
) -> Result<Applied, LayerError> {
    let _ = (lowers, upper, style, out);
    Err(LayerError::NotImplemented("write_diff"))
}
