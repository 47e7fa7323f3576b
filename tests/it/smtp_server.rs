//! A small real SMTP server on loopback TCP for the sending tests: speaks
//! enough of RFC 5321 (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), records
//! every message it accepts, and injects faults on request — 4xx/5xx for
//! chosen recipients, a dropped connection mid-DATA or after the data (before
//! its reply), stalls, and seeded random faults.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One accepted message.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// `MAIL FROM` address.
    pub(crate) from: String,
    /// `RCPT TO` addresses.
    pub(crate) to: Vec<String>,
    /// The message data, dot-unstuffed, CRLF line ends.
    pub(crate) data: String,
}

impl Received {
    /// The value of a header (first occurrence, unfolded).
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line.trim_start());
                    continue;
                }
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                if n.eq_ignore_ascii_case(name) {
                    value = Some(v.trim().to_owned());
                }
            }
        }
        value
    }
}

/// Random faults, from a fixed seed so a failing run can be replayed.
#[derive(Debug, Clone)]
pub(crate) struct RandomFaults {
    pub(crate) seed: u64,
    /// `421` to MAIL, then the server closes the connection.
    pub(crate) p_421: f64,
    /// `451` to RCPT.
    pub(crate) p_451: f64,
    /// Close the connection halfway through the message data.
    pub(crate) p_drop_mid_data: f64,
    /// Accept the data, then close without replying (the "unknown" window).
    pub(crate) p_drop_after_data: f64,
    /// Stall this long before a reply.
    pub(crate) p_stall: f64,
    pub(crate) stall: Duration,
}

/// What the server does.
#[derive(Debug, Clone, Default)]
pub(crate) struct Behaviour {
    /// Recipients refused with `550 5.1.1`.
    pub(crate) reject: HashSet<String>,
    /// Recipients refused with `550 5.7.1` (a spam-policy rejection).
    pub(crate) policy_reject: HashSet<String>,
    /// Recipients whose message data is refused with `500 5.5.2 line too long`.
    pub(crate) reject_data: HashSet<String>,
    /// Recipient → how many times to answer RCPT with `451 4.3.0`.
    pub(crate) defer_times: HashMap<String, u32>,
    /// Recipient → how many times to close the connection mid-DATA.
    pub(crate) drop_mid_data_times: HashMap<String, u32>,
    /// Recipient → how many times to accept the data, then close without a reply.
    pub(crate) drop_after_data_times: HashMap<String, u32>,
    /// Delay before every reply.
    pub(crate) reply_delay: Duration,
    /// Extra delay before the reply to the end of the data.
    pub(crate) data_delay: Duration,
    pub(crate) random: Option<RandomFaults>,
    /// `(user, password)`: offer AUTH PLAIN and LOGIN and require it before MAIL.
    pub(crate) auth: Option<(String, String)>,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    rcpt_attempts: HashMap<String, u32>,
    used: HashMap<(&'static str, String), u32>,
    connections: u64,
}

struct Shared {
    behaviour: Behaviour,
    state: Mutex<State>,
    rng: Mutex<Option<StdRng>>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// True (and counts it) while `rcpt` has uses left in `table`.
    fn take(&self, kind: &'static str, table: &HashMap<String, u32>, rcpt: &str) -> bool {
        let Some(limit) = table.get(rcpt) else {
            return false;
        };
        let mut st = self.state();
        let used = st.used.entry((kind, rcpt.to_owned())).or_default();
        if *used < *limit {
            *used += 1;
            true
        } else {
            false
        }
    }

    fn roll(&self, pick: impl Fn(&RandomFaults) -> f64) -> bool {
        let Some(faults) = &self.behaviour.random else {
            return false;
        };
        let p = pick(faults);
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rng.as_mut().is_some_and(|r| r.gen_bool(p.clamp(0.0, 1.0)))
    }
}

/// A running server; stops when dropped.
pub(crate) struct SmtpServer {
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SmtpServer {
    /// Starts a server on 127.0.0.1 with an OS-chosen port.
    pub(crate) fn start(behaviour: Behaviour) -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("local addr");
        let rng = behaviour
            .random
            .as_ref()
            .map(|r| StdRng::seed_from_u64(r.seed));
        let shared = Arc::new(Shared {
            behaviour,
            state: Mutex::new(State::default()),
            rng: Mutex::new(rng),
        });
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("tokio listener");
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            if let Ok((stream, _)) = accepted {
                                s.state().connections += 1;
                                tokio::spawn(session(stream, s.clone()));
                            }
                        }
                    }
                }
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `smtp://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message accepted so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.shared.state().received.clone()
    }

    /// Accepted messages per recipient (lower-cased).
    pub(crate) fn count_by_recipient(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for r in &self.shared.state().received {
            for to in &r.to {
                *m.entry(to.to_lowercase()).or_default() += 1;
            }
        }
        m
    }

    /// How many times RCPT was tried for an address.
    pub(crate) fn rcpt_attempts(&self, addr: &str) -> u32 {
        self.shared
            .state()
            .rcpt_attempts
            .get(&addr.to_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// TCP connections accepted so far.
    pub(crate) fn connections(&self) -> u64 {
        self.shared.state().connections
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn address_in(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg[start..].find('>').map_or(arg.len(), |i| start + i);
    arg[start..end].trim().to_lowercase()
}

/// Sends an AUTH challenge and reads the client's answer line.
async fn ask(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    prompt: &[u8],
) -> std::io::Result<String> {
    write.write_all(prompt).await?;
    let mut answer = String::new();
    read.read_line(&mut answer).await?;
    Ok(answer)
}

async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let _ = session_inner(stream, &shared).await;
}

async fn session_inner(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let b = &shared.behaviour;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let reply = |text: &'static str| text.as_bytes();
    write
        .write_all(reply("220 localhost test ESMTP\r\n"))
        .await?;
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut authenticated = b.auth.is_none();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        if !b.reply_delay.is_zero() {
            tokio::time::sleep(b.reply_delay).await;
        }
        if shared.roll(|f| f.p_stall) {
            if let Some(f) = &b.random {
                tokio::time::sleep(f.stall).await;
            }
        }
        if upper.starts_with("EHLO") {
            if b.auth.is_some() {
                write.write_all(b"250-AUTH PLAIN LOGIN\r\n").await?;
            }
            write
                .write_all(
                    b"250-localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 20000000\r\n",
                )
                .await?;
        } else if upper.starts_with("AUTH ") {
            let Some((user, pass)) = &b.auth else {
                write.write_all(b"503 5.5.1 AUTH not offered\r\n").await?;
                continue;
            };
            let words: Vec<&str> = cmd.split_whitespace().collect();
            let decode = |s: &str| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .ok()
                    .and_then(|v| String::from_utf8(v).ok())
                    .unwrap_or_default()
            };
            let given = match words.get(1).map(|m| m.to_ascii_uppercase()).as_deref() {
                Some("PLAIN") => {
                    let blob = match words.get(2) {
                        Some(b) => (*b).to_owned(),
                        None => ask(&mut write, &mut read, b"334 \r\n").await?,
                    };
                    let plain = decode(&blob);
                    let mut parts = plain.split('\0').skip(1);
                    Some((
                        parts.next().unwrap_or_default().to_owned(),
                        parts.next().unwrap_or_default().to_owned(),
                    ))
                }
                Some("LOGIN") => {
                    let u = match words.get(2) {
                        Some(u) => decode(u),
                        None => decode(&ask(&mut write, &mut read, b"334 VXNlcm5hbWU6\r\n").await?),
                    };
                    let p = decode(&ask(&mut write, &mut read, b"334 UGFzc3dvcmQ6\r\n").await?);
                    Some((u, p))
                }
                _ => None,
            };
            match given {
                Some((u, p)) if &u == user && &p == pass => {
                    authenticated = true;
                    write
                        .write_all(b"235 2.7.0 authentication successful\r\n")
                        .await?;
                }
                Some(_) => {
                    write
                        .write_all(b"535 5.7.8 authentication credentials invalid\r\n")
                        .await?;
                }
                None => {
                    write
                        .write_all(b"504 5.5.4 unrecognized authentication type\r\n")
                        .await?;
                }
            }
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            write.write_all(b"250 2.0.0 ok\r\n").await?;
        } else if upper.starts_with("RSET") {
            from.clear();
            to.clear();
            write.write_all(b"250 2.0.0 reset\r\n").await?;
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else if upper.starts_with("MAIL FROM:") && !authenticated {
            write
                .write_all(b"530 5.7.0 authentication required\r\n")
                .await?;
        } else if upper.starts_with("MAIL FROM:") {
            if shared.roll(|f| f.p_421) {
                write
                    .write_all(b"421 4.3.2 service shutting down, try later\r\n")
                    .await?;
                return Ok(());
            }
            from = address_in(&cmd[10..]);
            to.clear();
            write.write_all(b"250 2.1.0 sender ok\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = address_in(&cmd[8..]);
            *shared
                .state()
                .rcpt_attempts
                .entry(rcpt.clone())
                .or_default() += 1;
            if b.reject.contains(&rcpt) {
                write
                    .write_all(b"550 5.1.1 no such mailbox here\r\n")
                    .await?;
            } else if b.policy_reject.contains(&rcpt) {
                write
                    .write_all(b"550 5.7.1 message refused as spam\r\n")
                    .await?;
            } else if shared.take("defer", &b.defer_times, &rcpt) || shared.roll(|f| f.p_451) {
                write
                    .write_all(b"451 4.3.0 temporary local problem, try again\r\n")
                    .await?;
            } else {
                to.push(rcpt);
                write.write_all(b"250 2.1.5 recipient ok\r\n").await?;
            }
        } else if upper == "DATA" {
            if to.is_empty() {
                write
                    .write_all(b"503 5.5.1 no valid recipients\r\n")
                    .await?;
                continue;
            }
            write
                .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let drop_mid = to
                .iter()
                .any(|r| shared.take("mid", &b.drop_mid_data_times, r))
                || shared.roll(|f| f.p_drop_mid_data);
            let mut data = String::new();
            let mut lines = 0usize;
            loop {
                line.clear();
                if read.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                lines += 1;
                if drop_mid && lines == 3 {
                    // Close halfway through the data: the message is incomplete.
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let l = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(l);
            }
            if to.iter().any(|r| b.reject_data.contains(r)) {
                to.clear();
                write.write_all(b"500 5.5.2 line too long\r\n").await?;
                continue;
            }
            shared.state().received.push(Received {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            let drop_after = to
                .iter()
                .any(|r| shared.take("after", &b.drop_after_data_times, r))
                || shared.roll(|f| f.p_drop_after_data);
            if drop_after {
                // Accepted, but the client never hears so.
                return Ok(());
            }
            if !b.data_delay.is_zero() {
                tokio::time::sleep(b.data_delay).await;
            }
            to.clear();
            write.write_all(b"250 2.0.0 ok: queued\r\n").await?;
        } else {
            write
                .write_all(b"500 5.5.2 command not recognized\r\n")
                .await?;
        }
    }
}
