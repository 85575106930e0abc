//! The process environment: the merge docker does
//! (daemon `CreateDaemonEnvironment` + `ReplaceOrAppendEnvValues`):
//!
//! 1. `PATH` (a default if the image sets none), `HOSTNAME=<hostname>`,
//!    `TERM=xterm` with `-t`, the variables of legacy links;
//! 2. the image's `Env`, replacing an entry with the same key in place;
//! 3. the user's `-e`/`--env-file`, likewise; a bare `KEY` (no `=`) removes
//!    `KEY`, as docker's daemon treats it (its CLI resolves `-e KEY` from its
//!    own environment first, so a bare key reaching here means "unset").

use super::SpecError;

/// The `PATH` a container gets when its image sets none (moby `oci`
/// `DefaultPathEnv` for Linux).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The key of an environment entry (`A` of `A=b`, or the bare `A`).
fn key_of(entry: &str) -> &str {
    entry.split_once('=').map(|(k, _)| k).unwrap_or(entry)
}

/// Puts `overrides` into `env` as docker's `ReplaceOrAppendEnvValues`: an
/// entry with an existing key replaces it where it stands, a new one is
/// appended, a bare `KEY` removes it.
pub fn replace_or_append(env: &mut Vec<String>, overrides: &[String]) {
    for entry in overrides {
        let key = key_of(entry);
        let existing = env.iter().position(|e| key_of(e) == key);
        match (entry.contains('='), existing) {
            (true, Some(i)) => env[i] = entry.clone(),
            (true, None) => env.push(entry.clone()),
            (false, Some(i)) => {
                env.remove(i);
            }
            (false, None) => {}
        }
    }
}

/// Checks the user's `-e`/`--env-file` entries: a key must not be empty
/// (`=x`), and no entry may hold a NUL byte: execve(2) cannot pass one, so
/// such a container would be created and then fail at every start.
pub fn validate_user_env(env: &[String]) -> Result<(), SpecError> {
    for entry in env {
        if entry.contains('\0') {
            return Err(SpecError::invalid(format!(
                "invalid environment variable: {entry:?} contains a NUL byte"
            )));
        }
        if key_of(entry).is_empty() {
            return Err(SpecError::invalid(format!(
                "invalid environment variable: {entry}"
            )));
        }
    }
    Ok(())
}

/// The container's environment (see the module doc for the order).
pub fn container_env(
    image_env: &[String],
    user_env: &[String],
    hostname: &str,
    tty: bool,
    link_env: &[String],
) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    if tty {
        env.push("TERM=xterm".to_string());
    }
    env.extend(link_env.iter().cloned());
    replace_or_append(&mut env, image_env);
    replace_or_append(&mut env, user_env);
    env
}

/// Whether `env` sets `key`.
pub fn has_key(env: &[String], key: &str) -> bool {
    env.iter().any(|e| e.contains('=') && key_of(e) == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn merge_order_and_overrides() {
        let env = container_env(
            &s(&["PATH=/img/bin", "A=image", "B=image"]),
            &s(&["A=user", "C=user", "B", "HOSTNAME=mine"]),
            "abc123",
            true,
            &s(&["L_PORT=tcp://10.0.0.2:80", "A=link"]),
        );
        assert_eq!(
            env,
            s(&[
                "PATH=/img/bin",
                "HOSTNAME=mine",
                "TERM=xterm",
                "L_PORT=tcp://10.0.0.2:80",
                "A=user",
                "C=user"
            ])
        );
        let env = container_env(&[], &[], "h", false, &[]);
        assert_eq!(env, s(&[&format!("PATH={DEFAULT_PATH}"), "HOSTNAME=h"]));
        assert!(has_key(&env, "PATH"));
        assert!(!has_key(&env, "HOME"));
    }

    #[test]
    fn empty_keys_are_refused() {
        assert!(validate_user_env(&s(&["A=1", "B"])).is_ok());
        assert_eq!(
            validate_user_env(&s(&["A=x\0y"])).unwrap_err().to_string(),
            "invalid environment variable: \"A=x\\0y\" contains a NUL byte"
        );
        assert_eq!(
            validate_user_env(&s(&["=1"])).unwrap_err().to_string(),
            "invalid environment variable: =1"
        );
    }
}
