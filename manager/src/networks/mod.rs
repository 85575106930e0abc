//! berthd's networks.
//!
//! * [`firewall`]: berthd's own nftables table (published ports, the
//!   loopback path to them, isolation between our bridges);
//! * [`ports`]: `-p`/`-P`/`--expose` parsing and the host port reservations.

pub mod firewall;
pub mod ports;
