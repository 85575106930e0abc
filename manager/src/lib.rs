//! berthd and the berth CLI.
