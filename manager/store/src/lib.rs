//! berthd storage.
