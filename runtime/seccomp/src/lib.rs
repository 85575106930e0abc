//! seccomp filters.
