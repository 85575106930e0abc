//! `--log FILE` and `--log-format text|json`: where the runtime reports
//! errors besides stderr. Engines read this file: containerd's runc shim and
//! conmon parse its JSON lines (`{"level":"error","msg":...,"time":...}`) and
//! show `msg` to the user, so the format matches runc's logrus output.

use std::io::Write;

/// The longest error message shown, in bytes (before the "...").
pub const MAX_ERROR_LEN: usize = 4096;

/// `msg` cut to [`MAX_ERROR_LEN`] bytes at a character boundary, with
/// "..." to show it was cut.
pub fn capped(msg: &str) -> std::borrow::Cow<'_, str> {
    if msg.len() <= MAX_ERROR_LEN {
        return msg.into();
    }
    let mut end = MAX_ERROR_LEN;
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &msg[..end]).into()
}

/// The log destination chosen by the global flags.
#[derive(Debug, Clone, Default)]
pub struct Log {
    pub path: Option<String>,
    pub json: bool,
    pub debug: bool,
}

impl Log {
    /// One line as runc's logrus writes it: `{"level":..,"msg":..,"time":..}`
    /// with `--log-format json`, else `time="..." level=... msg="..."`.
    fn line(&self, level: &str, msg: &str) -> String {
        let time = crate::clock::now_rfc3339();
        if self.json {
            let mut v = serde_json::Map::new();
            v.insert("level".into(), level.into());
            v.insert("msg".into(), msg.into());
            v.insert("time".into(), time.into());
            let mut s = serde_json::Value::Object(v).to_string();
            s.push('\n');
            s
        } else {
            format!("time=\"{time}\" level={level} msg={msg:?}\n")
        }
    }

    /// Appends one line at `level`; a log that cannot be written is not an
    /// error of the command (the message still goes to stderr).
    pub fn write(&self, level: &str, msg: &str) {
        let Some(path) = &self.path else { return };
        let line = self.line(level, msg);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }

    /// An error: to the log file and, as one line, to stderr; at most
    /// [`MAX_ERROR_LEN`] bytes of it, so a hostile config (a megabyte
    /// sysctl key, mount path...) cannot make a megabyte error line.
    pub fn error(&self, msg: &str) {
        let msg = capped(msg);
        self.write("error", &msg);
        eprintln!("berth-runtime: {msg}");
    }

    /// A warning: to the log file, or to stderr without one (runc's
    /// logrus default output), in the log's format.
    pub fn warn(&self, msg: &str) {
        self.log_or_stderr("warning", msg);
    }

    /// A debug line, only with `--debug`: to the log file, or to stderr
    /// without one, as runc's `--debug` does. The message is made only then:
    /// without `--debug` a call costs nothing on the start path.
    pub fn debug(&self, msg: impl FnOnce() -> String) {
        if self.debug {
            self.log_or_stderr("debug", &msg());
        }
    }

    fn log_or_stderr(&self, level: &str, msg: &str) {
        if self.path.is_some() {
            self.write(level, msg);
        } else {
            let _ = std::io::stderr().write_all(self.line(level, msg).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_at_a_char_boundary() {
        assert_eq!(capped("short"), "short");
        let exact = "x".repeat(MAX_ERROR_LEN);
        assert_eq!(capped(&exact), exact);
        let long = format!("{}{}", "a".repeat(MAX_ERROR_LEN - 1), "é".repeat(1000));
        let cut = capped(&long);
        assert!(cut.ends_with("..."));
        assert_eq!(cut.len(), MAX_ERROR_LEN - 1 + 3);
    }
}
