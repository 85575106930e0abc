//! cgroup drivers.
