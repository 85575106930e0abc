//! Archives of a container's root filesystem: `cp` in both directions, `diff` and `export`.
