//! The OCI runtime spec of a container: made from its image's config and the user's options.
