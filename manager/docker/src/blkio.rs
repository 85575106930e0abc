//! docker's block I/O flag values: `--blkio-weight-device DEVICE:WEIGHT`
//! and `--device-{read,write}-{bps,iops} DEVICE:RATE`, checked with the
//! words of docker's `opts.ValidateWeightDevice`/`ValidateThrottle*Device`.
//! The CLI checks them before sending; berthd parses the same strings and
//! then finds the device's numbers on the host.

use crate::size;

/// A `DEVICE:VALUE` flag value that does not parse; the message is
/// docker's (the CLI prefixes `invalid argument "..." for "--flag" flag: `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlkioError {
    #[error("bad format: {0}")]
    Format(String),
    #[error("bad format for device path: {0}")]
    Path(String),
    #[error("invalid weight for device: {0}")]
    Weight(String),
    #[error("invalid rate for device: {0}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb")]
    Bps(String),
    #[error("invalid rate for device: {0}. The correct format is <device-path>:<number>. Number must be a positive integer")]
    Iops(String),
}

/// Splits `DEVICE:VALUE` with a `/dev/` path.
fn device_and_value(value: &str) -> Result<(&str, &str), BlkioError> {
    let parts: Vec<&str> = value.split(':').collect();
    let [device, rest] = parts[..] else {
        return Err(BlkioError::Format(value.to_string()));
    };
    if !device.starts_with("/dev/") {
        return Err(BlkioError::Path(value.to_string()));
    }
    Ok((device, rest))
}

/// `--blkio-weight-device /dev/sda:200`: the path and a weight of 10-1000
/// (0 leaves the device at the container's weight).
pub fn parse_weight_device(value: &str) -> Result<(String, u16), BlkioError> {
    let (device, weight) = device_and_value(value)?;
    let weight: u16 = weight
        .parse()
        .map_err(|_| BlkioError::Weight(value.to_string()))?;
    if weight > 0 && !(10..=1000).contains(&weight) {
        return Err(BlkioError::Weight(value.to_string()));
    }
    Ok((device.to_string(), weight))
}

/// `--device-read-bps /dev/sda:1mb`: the path and bytes per second
/// (docker's RAMInBytes units).
pub fn parse_bps_device(value: &str) -> Result<(String, u64), BlkioError> {
    let (device, rate) = device_and_value(value)?;
    let rate = size::parse_bytes(rate).map_err(|_| BlkioError::Bps(value.to_string()))?;
    let rate = u64::try_from(rate).map_err(|_| BlkioError::Bps(value.to_string()))?;
    Ok((device.to_string(), rate))
}

/// `--device-read-iops /dev/sda:1000`: the path and IO per second.
pub fn parse_iops_device(value: &str) -> Result<(String, u64), BlkioError> {
    let (device, rate) = device_and_value(value)?;
    let rate: u64 = rate
        .parse()
        .map_err(|_| BlkioError::Iops(value.to_string()))?;
    Ok((device.to_string(), rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_formats_and_words() {
        assert_eq!(
            parse_bps_device("/dev/vda:1mb").unwrap(),
            ("/dev/vda".into(), 1 << 20)
        );
        assert_eq!(
            parse_iops_device("/dev/vda:300").unwrap(),
            ("/dev/vda".into(), 300)
        );
        assert_eq!(
            parse_weight_device("/dev/vda:200").unwrap(),
            ("/dev/vda".into(), 200)
        );
        assert_eq!(
            parse_bps_device("vda:1mb").unwrap_err().to_string(),
            "bad format for device path: vda:1mb"
        );
        assert_eq!(
            parse_iops_device("/dev/vda").unwrap_err().to_string(),
            "bad format: /dev/vda"
        );
        assert!(parse_iops_device("/dev/vda:1k")
            .unwrap_err()
            .to_string()
            .starts_with(
            "invalid rate for device: /dev/vda:1k. The correct format is <device-path>:<number>. "
        ));
        assert!(matches!(
            parse_bps_device("/dev/vda:-1"),
            Err(BlkioError::Bps(_))
        ));
        assert_eq!(
            parse_weight_device("/dev/vda:5").unwrap_err().to_string(),
            "invalid weight for device: /dev/vda:5"
        );
    }
}
