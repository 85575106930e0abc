//! docker 20.10's dual logging (daemon/logger/loggerutils/cache): the lines
//! of a driver that cannot be read back (syslog) also go to a cache in the
//! `local` format beside the container (`container-cached.log`, rotated by
//! `cache-max-size`/`cache-max-file`, gzip'd unless `cache-compress=false`),
//! which `berth logs` reads. berthd decides whether there is a cache (no
//! `cache-disabled=true`) and sends its path as the LogConfig's path.
//!
//! Each line goes to the cache first, then to the driver, and a driver
//! that fails (its sink went away) does not keep a line from the cache:
//! `logs` still shows everything the container wrote, and the container
//! keeps running. (docker writes the cache only after the driver took the
//! line; berth keeps the cache whole instead.)

use super::local::LocalLog;
use super::{LogDriver, LogError, LogMessage};

/// A driver with its local-format cache.
pub struct DualLog {
    pub driver: Box<dyn LogDriver>,
    pub cache: LocalLog,
}

impl LogDriver for DualLog {
    fn name(&self) -> &'static str {
        self.driver.name()
    }

    fn log(&mut self, msg: &LogMessage<'_>) -> Result<(), LogError> {
        let cached = self.cache.log(msg);
        self.driver.log(msg)?;
        cached
    }

    fn flush(&mut self) -> Result<(), LogError> {
        let cached = self.cache.flush();
        self.driver.flush()?;
        cached
    }
}
