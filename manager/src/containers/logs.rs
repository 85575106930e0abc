//! Reading a container's docker json-file log (being written by berth-shim).
