//! The variables an expansion sees: an ordered list of `KEY=value` where a
//! later definition of a key replaces the earlier one in place, as BuildKit's
//! `llb.EnvList` (`AddOrReplace`). Keys compare exactly (Linux: no case
//! folding, BuildKit's `NormalizeEnvKey` is the identity there).
//!
//! Order matters because it is what the image config's `Env` shows: a key set
//! again keeps its first position and takes the new value.

/// What the shell lexer asks while expanding: the value of one variable, if it
/// is set (set to the empty string is still set: `${V-x}` and `${V:-x}`
/// differ on it).
pub trait Lookup {
    /// The value of `key`, or `None` when it is unset.
    fn lookup(&self, key: &str) -> Option<&str>;
}

/// An ordered set of variables (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvList {
    entries: Vec<(String, String)>,
}

impl EnvList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`: replaces the value in place when the key is
    /// already there, appends otherwise.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.entries.push((key.to_string(), value.to_string())),
        }
    }

    /// Removes `key` (a no-op when it is not set).
    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| k != key);
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// Whether no variable is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `KEY=value` strings in order, the form of an image config's `Env`.
    pub fn to_strings(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Parses `KEY=value` strings (an image config's `Env`); an entry
    /// without `=` is a key with an empty value, as BuildKit's
    /// `EnvsFromSlice`.
    pub fn from_strings<S: AsRef<str>>(items: &[S]) -> Self {
        let mut list = Self::new();
        for item in items {
            let (k, v) = item.as_ref().split_once('=').unwrap_or((item.as_ref(), ""));
            list.set(k, v);
        }
        list
    }
}

impl Lookup for EnvList {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.get(key)
    }
}

/// Nothing is set: what the heredoc-word and `--from` checks expand against.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEnv;

impl Lookup for NoEnv {
    fn lookup(&self, _key: &str) -> Option<&str> {
        None
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Lookup for [(K, V)] {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_again_keeps_position_and_takes_value() {
        let mut env = EnvList::new();
        env.set("A", "1");
        env.set("B", "2");
        env.set("A", "3");
        assert_eq!(env.to_strings(), ["A=3", "B=2"]);
        env.remove("A");
        assert_eq!(env.to_strings(), ["B=2"]);
    }

    #[test]
    fn from_strings_last_wins_and_bare_key_is_empty() {
        let env = EnvList::from_strings(&["foo=bar", "car=hat", "car=bike", "bare"]);
        assert_eq!(env.get("car"), Some("bike"));
        assert_eq!(env.get("bare"), Some(""));
        assert_eq!(env.get("nope"), None);
    }
}
