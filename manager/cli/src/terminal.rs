//! The local terminal for `berth run -it`, `attach` and `exec -it`: raw
//! mode while attached, the window size and its changes, and the detach key
//! sequence.
//!
//! * [`RawMode`] puts the terminal in raw mode (termios(3) `cfmakeraw`: no
//!   echo, no line editing, no signals from ^C/^Z, no output processing),
//!   as docker does for a tty session: every key goes to the container's
//!   pty, whose own line discipline does the work. The saved settings are
//!   restored when the guard drops, by a panic hook (the release profile
//!   aborts on panic, so no destructor would run), and by
//!   [`restore_terminal`], which the CLI calls before `process::exit`.
//! * [`window_size`] and [`window_changes`]: TIOCGWINSZ (tty_ioctl(4)) and
//!   SIGWINCH, forwarded to the container's pty as resizes.
//! * [`parse_detach_keys`] and [`DetachDetector`]: docker's `--detach-keys`
//!   (moby/term `ToBytes`, default `ctrl-p,ctrl-q`) and its `EscapeProxy`,
//!   which holds back bytes that may start the sequence and forwards them
//!   if the sequence breaks.

use std::os::fd::RawFd;
use std::sync::{Mutex, Once};

use futures_util::Stream;

/// docker's default detach sequence.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// What terminal handling can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("get terminal attributes of fd {fd}: {source}")]
    GetAttributes { fd: RawFd, source: std::io::Error },
    #[error("set terminal attributes of fd {fd}: {source}")]
    SetAttributes { fd: RawFd, source: std::io::Error },
    #[error("listen for SIGWINCH: {0}")]
    Signal(std::io::Error),
    /// docker's message, word for word.
    #[error("Invalid detach keys ({0}) provided")]
    InvalidDetachKeys(String),
}

/// Terminals in raw mode, with the settings to restore: (guard id, fd,
/// saved termios). Global so that a panic hook and exit paths can restore
/// them.
static RAW_TERMINALS: Mutex<Vec<(u64, RawFd, libc::termios)>> = Mutex::new(Vec::new());
static NEXT_GUARD_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
static PANIC_HOOK: Once = Once::new();

/// A terminal in raw mode; its settings are restored on drop.
#[derive(Debug)]
pub struct RawMode {
    id: u64,
    fd: RawFd,
}

impl RawMode {
    /// Puts stdin in raw mode when it is a terminal; `None` when it is not
    /// (a pipe, a file: nothing to do).
    pub fn stdin() -> Result<Option<RawMode>, TerminalError> {
        RawMode::enable(libc::STDIN_FILENO)
    }

    /// Puts the terminal `fd` in raw mode; `None` when `fd` is not a
    /// terminal.
    pub fn enable(fd: RawFd) -> Result<Option<RawMode>, TerminalError> {
        // SAFETY: isatty only inspects the fd.
        if unsafe { libc::isatty(fd) } != 1 {
            return Ok(None);
        }
        let saved = get_attributes(fd)?;
        let mut raw = saved;
        // SAFETY: cfmakeraw edits the struct we own.
        unsafe { libc::cfmakeraw(&mut raw) };
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // The message must land on a sane terminal.
                restore_terminal();
                previous(info);
            }));
        });
        let id = NEXT_GUARD_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        raw_terminals().push((id, fd, saved));
        if let Err(e) = set_attributes(fd, &raw) {
            raw_terminals().retain(|(i, _, _)| *i != id);
            return Err(e);
        }
        Ok(Some(RawMode { id, fd }))
    }

    /// The terminal this guard holds in raw mode.
    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let saved = {
            let mut list = raw_terminals();
            let pos = list.iter().position(|(i, _, _)| *i == self.id);
            pos.map(|p| list.remove(p))
        };
        if let Some((_, fd, termios)) = saved {
            let _ = set_attributes(fd, &termios);
        }
    }
}

/// Restores every terminal a [`RawMode`] holds in raw mode, newest first
/// (for exit paths that skip destructors, and the panic hook). The guards
/// then restore nothing when dropped.
pub fn restore_terminal() {
    let saved = std::mem::take(&mut *raw_terminals());
    for (_, fd, termios) in saved.iter().rev() {
        let _ = set_attributes(*fd, termios);
    }
}

/// The list, even if a panic poisoned its lock (restoring must still work).
fn raw_terminals() -> std::sync::MutexGuard<'static, Vec<(u64, RawFd, libc::termios)>> {
    RAW_TERMINALS.lock().unwrap_or_else(|e| e.into_inner())
}

fn get_attributes(fd: RawFd) -> Result<libc::termios, TerminalError> {
    // SAFETY: tcgetattr fills the zeroed struct we own.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err(TerminalError::GetAttributes {
                fd,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(t)
    }
}

fn set_attributes(fd: RawFd, t: &libc::termios) -> Result<(), TerminalError> {
    // SAFETY: tcsetattr reads the struct. TCSANOW as docker (TCSETS).
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, t) } != 0 {
        return Err(TerminalError::SetAttributes {
            fd,
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// The size of terminal `fd` as (columns, rows); `None` when `fd` is not a
/// terminal or its size is unknown (0x0, as a fresh pty's: docker skips
/// such resizes too).
pub fn window_size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills the winsize we own.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } != 0 {
        return None;
    }
    if ws.ws_col == 0 && ws.ws_row == 0 {
        return None;
    }
    Some((ws.ws_col, ws.ws_row))
}

/// The new sizes of terminal `fd` (the one the CLI writes to: docker reads
/// stdout's) each time SIGWINCH reports a change; repeated sizes are not
/// yielded again. The size at the start is [`window_size`]'s to send. Needs
/// a tokio runtime with signals enabled.
pub fn window_changes(fd: RawFd) -> Result<impl Stream<Item = (u16, u16)> + Send, TerminalError> {
    use tokio::signal::unix::{signal, SignalKind};
    let signals = signal(SignalKind::window_change()).map_err(TerminalError::Signal)?;
    let last = window_size(fd);
    Ok(futures_util::stream::unfold(
        (signals, last),
        move |(mut signals, mut last)| async move {
            loop {
                signals.recv().await?;
                if let Some(size) = window_size(fd) {
                    if Some(size) != last {
                        last = Some(size);
                        return Some((size, (signals, last)));
                    }
                }
            }
        },
    ))
}

/// Parses docker's `--detach-keys`: comma-separated keys, each a single
/// character or `ctrl-X` for X in `a-z @ [ \ ] ^ _` (the control codes 0 to
/// 31), or `DEL`; moby/term's `ToBytes`. Any other key is refused with
/// docker's message naming the whole value.
pub fn parse_detach_keys(keys: &str) -> Result<Vec<u8>, TerminalError> {
    let invalid = || TerminalError::InvalidDetachKeys(keys.to_string());
    let mut codes = Vec::new();
    for key in keys.split(',') {
        let code = match key.as_bytes() {
            [single] => *single,
            b"DEL" => 127,
            [b'c', b't', b'r', b'l', b'-', value] => match value {
                b'@' => 0,
                b'a'..=b'z' => value - b'a' + 1,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => return Err(invalid()),
            },
            _ => return Err(invalid()),
        };
        codes.push(code);
    }
    Ok(codes)
}

/// Watches stdin for the detach sequence. Bytes that match the start of
/// the sequence are held back; when the next byte does not continue it, the
/// held bytes and that byte are forwarded (and matching starts again after
/// them, as docker's `EscapeProxy`: `ctrl-p ctrl-p ctrl-q` does not detach).
#[derive(Debug, Clone)]
pub struct DetachDetector {
    keys: Vec<u8>,
    /// How many bytes of `keys` have been seen (and held back).
    matched: usize,
}

impl DetachDetector {
    /// A detector for `keys` (see [`parse_detach_keys`]); with no keys it
    /// never detaches.
    pub fn new(keys: Vec<u8>) -> DetachDetector {
        DetachDetector { keys, matched: 0 }
    }

    /// Scans a piece of input: returns the bytes to send to the container
    /// now, and whether the sequence completed (then detach; the bytes
    /// after it in this piece of input are dropped, as docker does).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut forward = Vec::with_capacity(input.len() + self.matched);
        for &b in input {
            if self.keys.is_empty() {
                forward.push(b);
            } else if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (forward, true);
                }
            } else {
                forward.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                forward.push(b);
            }
        }
        (forward, false)
    }

    /// Input ended: the bytes held back, to forward.
    pub fn finish(&mut self) -> Vec<u8> {
        let held = self.keys[..self.matched].to_vec();
        self.matched = 0;
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    /// Raw-mode tests change process-wide state (the list of raw
    /// terminals, which `restore_terminal` empties): one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    /// A pseudo-terminal pair (master, slave), as openpty(3) makes it.
    fn pty() -> (OwnedFd, OwnedFd) {
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty writes two fds we then own.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
    }

    fn is_raw(fd: RawFd) -> bool {
        let t = get_attributes(fd).unwrap();
        t.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG) == 0
            && t.c_iflag & libc::ICRNL == 0
            && t.c_oflag & libc::OPOST == 0
    }

    fn same(a: &libc::termios, b: &libc::termios) -> bool {
        a.c_iflag == b.c_iflag
            && a.c_oflag == b.c_oflag
            && a.c_lflag == b.c_lflag
            && a.c_cflag == b.c_cflag
            && a.c_cc == b.c_cc
    }

    #[test]
    fn raw_mode_is_set_and_restored_on_drop() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (_master, slave) = pty();
        let fd = slave.as_raw_fd();
        let before = get_attributes(fd).unwrap();
        assert!(!is_raw(fd), "a fresh pty is cooked");
        let guard = RawMode::enable(fd).unwrap().expect("a pty is a terminal");
        assert_eq!(guard.fd(), fd);
        assert!(is_raw(fd));
        drop(guard);
        assert!(same(&get_attributes(fd).unwrap(), &before));
    }

    #[test]
    fn restore_terminal_restores_for_exit_paths() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (_master, slave) = pty();
        let fd = slave.as_raw_fd();
        let before = get_attributes(fd).unwrap();
        let guard = RawMode::enable(fd).unwrap().unwrap();
        assert!(is_raw(fd));
        restore_terminal();
        assert!(same(&get_attributes(fd).unwrap(), &before));
        // Something changes the terminal after the restore; the guard's
        // drop must not put back raw or stale settings.
        let mut changed = before;
        changed.c_lflag &= !libc::ECHO;
        set_attributes(fd, &changed).unwrap();
        drop(guard);
        assert!(same(&get_attributes(fd).unwrap(), &changed));
    }

    #[test]
    fn a_panic_restores_the_terminal() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (_master, slave) = pty();
        let fd = slave.as_raw_fd();
        let before = get_attributes(fd).unwrap();
        let result = std::thread::spawn(move || {
            let guard = RawMode::enable(fd).unwrap().unwrap();
            assert!(is_raw(fd));
            // Leaked: only the panic hook can restore it.
            std::mem::forget(guard);
            panic!("boom (expected by the test)");
        })
        .join();
        assert!(result.is_err());
        assert!(same(&get_attributes(fd).unwrap(), &before));
    }

    #[test]
    fn not_a_terminal_is_left_alone() {
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let [r, w] = fds;
        assert!(RawMode::enable(r).unwrap().is_none());
        assert_eq!(window_size(r), None);
        unsafe {
            libc::close(r);
            libc::close(w);
        }
        assert!(RawMode::enable(-1).unwrap().is_none());
    }

    fn set_size(fd: RawFd, cols: u16, rows: u16) {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        assert_eq!(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }, 0);
    }

    #[test]
    fn window_size_reads_the_pty() {
        let (master, slave) = pty();
        assert_eq!(window_size(slave.as_raw_fd()), None, "0x0 is unknown");
        set_size(master.as_raw_fd(), 132, 43);
        assert_eq!(window_size(slave.as_raw_fd()), Some((132, 43)));
        assert_eq!(window_size(master.as_raw_fd()), Some((132, 43)));
    }

    #[tokio::test]
    async fn sigwinch_yields_the_new_size_once() {
        let (master, slave) = pty();
        set_size(master.as_raw_fd(), 80, 24);
        let mut changes = Box::pin(window_changes(slave.as_raw_fd()).unwrap());
        let wait = std::time::Duration::from_secs(30);
        set_size(master.as_raw_fd(), 100, 30);
        unsafe { libc::raise(libc::SIGWINCH) };
        let got = tokio::time::timeout(wait, changes.next()).await;
        assert_eq!(got.expect("a SIGWINCH was raised"), Some((100, 30)));
        // A SIGWINCH with the same size is not a change ...
        unsafe { libc::raise(libc::SIGWINCH) };
        let quiet = std::time::Duration::from_millis(300);
        assert!(tokio::time::timeout(quiet, changes.next()).await.is_err());
        // ... the next real one is.
        set_size(master.as_raw_fd(), 120, 40);
        unsafe { libc::raise(libc::SIGWINCH) };
        let got = tokio::time::timeout(wait, changes.next()).await;
        assert_eq!(got.expect("a SIGWINCH was raised"), Some((120, 40)));
    }

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(parse_detach_keys(DEFAULT_DETACH_KEYS).unwrap(), [16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-a").unwrap(), [b'a', 1]);
        assert_eq!(
            parse_detach_keys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_,ctrl-z,DEL").unwrap(),
            [0, 27, 28, 29, 30, 31, 26, 127]
        );
        assert_eq!(parse_detach_keys("X").unwrap(), [b'X']);
        for bad in [
            "", "ctrl-", "ctrl-1", "ctrl-A", "ctrl-ab", "ab", "a,,b", "é", "ctrl-p,",
        ] {
            assert_eq!(
                parse_detach_keys(bad).unwrap_err().to_string(),
                format!("Invalid detach keys ({bad}) provided")
            );
        }
    }

    fn scan(d: &mut DetachDetector, input: &[u8]) -> (Vec<u8>, bool) {
        d.feed(input)
    }

    #[test]
    fn detector_holds_a_prefix_and_detaches_on_the_sequence() {
        let mut d = DetachDetector::new(vec![16, 17]);
        assert_eq!(scan(&mut d, b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(scan(&mut d, &[16]), (vec![], false));
        assert_eq!(scan(&mut d, &[17, b'x']), (vec![], true));
        // Again after a detach, and within one read.
        assert_eq!(scan(&mut d, &[b'a', 16, 17, b'b']), (vec![b'a'], true));
    }

    #[test]
    fn detector_forwards_a_broken_sequence() {
        let mut d = DetachDetector::new(vec![16, 17]);
        assert_eq!(scan(&mut d, &[16]), (vec![], false));
        assert_eq!(scan(&mut d, b"x"), (vec![16, b'x'], false));
        // docker's EscapeProxy: the byte that broke it does not start anew.
        assert_eq!(scan(&mut d, &[16, 16, 17]), (vec![16, 16, 17], false));
        assert_eq!(scan(&mut d, &[16]), (vec![], false));
        assert_eq!(d.finish(), [16]);
        assert_eq!(d.finish(), Vec::<u8>::new());
    }

    #[test]
    fn detector_with_three_keys_and_without_keys() {
        let mut d = DetachDetector::new(parse_detach_keys("ctrl-a,b,c").unwrap());
        assert_eq!(scan(&mut d, &[1, b'b']), (vec![], false));
        assert_eq!(scan(&mut d, b"d"), (vec![1, b'b', b'd'], false));
        assert_eq!(scan(&mut d, &[1, b'b', b'c']), (vec![], true));
        let mut none = DetachDetector::new(Vec::new());
        assert_eq!(scan(&mut none, &[16, 17]), (vec![16, 17], false));
    }
}
