//! Load on `lookalike serve` (bench/serve-load.sh): query latency and throughput under
//! concurrent clients, and the server's memory before and after.
//!
//! `--clients N` threads each keep one HTTP/1.1 keep-alive connection to the server and
//! together send `--requests M` queries, one at a time per connection, until all are answered
//! or `--max-seconds` have passed. A query is either by an indexed file (`--paths FILE`: one
//! absolute path a line, taken in a seeded random order, `GET /api/query?path=...`: a scan of
//! the stored vectors, no decoding) or by upload (`--upload IMAGE`: `POST /api/query` with the
//! image's bytes: decode, embedding and scan). A request's latency runs from writing it to
//! reading the last byte of the answer (connections are opened before the clock starts; one
//! the server closes is opened again, and that time counts).
//!
//! ```text
//! cargo run --release --example serve_load -- --url http://127.0.0.1:PORT/ --clients N
//!     --requests M (--paths FILE | --upload IMAGE) [--k 10] [--mode similar|copies]
//!     [--seed 1] [--pid PID] [--max-seconds S] [--timeout 60] [--json]
//! ```
//! Prints one line: clients, requests answered (of those asked), errors, connections opened,
//! seconds, throughput (requests per second), latency p50, p90, p99 and max in milliseconds;
//! with `--pid`, the server's resident memory (VmRSS, and its peak VmHWM, from
//! `/proc/PID/status`) before and after. `--json`: the same as one JSON object. Any answer but
//! 200 (or a failed connection) is an error: the first one's body goes to stderr and the exit
//! status is 1. Only loopback addresses are accepted.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: serve_load --url http://127.0.0.1:PORT/ --clients N --requests M \
    (--paths FILE | --upload IMAGE) [--k K] [--mode similar|copies] [--seed S] [--pid PID] \
    [--max-seconds S] [--timeout S] [--json]";

/// Longest status or header line, header count, and body accepted from the server.
const MAX_LINE: u64 = 64 << 10;
const MAX_HEADERS: usize = 100;
const MAX_BODY: usize = 256 << 20;
/// Most of an error body printed.
const MAX_ERROR_TEXT: usize = 2000;

struct Args {
    url: String,
    clients: usize,
    requests: usize,
    paths: Option<PathBuf>,
    upload: Option<PathBuf>,
    k: usize,
    mode: String,
    seed: u64,
    pid: Option<u32>,
    max_seconds: Option<f64>,
    timeout: f64,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        clients: 0,
        requests: 0,
        paths: None,
        upload: None,
        k: 10,
        mode: "similar".into(),
        seed: 1,
        pid: None,
        max_seconds: None,
        timeout: 60.0,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" {
            args.json = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        const VALUED: [&str; 11] = [
            "--url",
            "--clients",
            "--requests",
            "--paths",
            "--upload",
            "--k",
            "--mode",
            "--seed",
            "--pid",
            "--max-seconds",
            "--timeout",
        ];
        if !VALUED.contains(&flag.as_str()) {
            return Err(format!("unknown argument `{flag}`"));
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |what: &str| format!("{flag}: {what} expected, got `{value}`");
        match flag.as_str() {
            "--url" => args.url = value,
            "--clients" => args.clients = value.parse().map_err(|_| number("a count"))?,
            "--requests" => args.requests = value.parse().map_err(|_| number("a count"))?,
            "--paths" => args.paths = Some(value.into()),
            "--upload" => args.upload = Some(value.into()),
            "--k" => args.k = value.parse().map_err(|_| number("a count"))?,
            "--mode" => args.mode = value,
            "--seed" => args.seed = value.parse().map_err(|_| number("a number"))?,
            "--pid" => args.pid = Some(value.parse().map_err(|_| number("a process id"))?),
            "--max-seconds" => {
                args.max_seconds = Some(value.parse().map_err(|_| number("seconds"))?)
            }
            "--timeout" => args.timeout = value.parse().map_err(|_| number("seconds"))?,
            _ => unreachable!("listed above"),
        }
    }
    if args.url.is_empty() || args.clients == 0 || args.requests == 0 {
        return Err("--url, --clients (1 or more) and --requests (1 or more) are needed".into());
    }
    if args.paths.is_some() == args.upload.is_some() {
        return Err("give one of --paths FILE and --upload IMAGE".into());
    }
    let positive = |s: f64| s.is_finite() && s > 0.0;
    if !args.max_seconds.is_none_or(positive) || !positive(args.timeout) {
        return Err("--max-seconds and --timeout must be positive".into());
    }
    if !args
        .mode
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("--mode: a word expected, got `{}`", args.mode));
    }
    Ok(args)
}

/// Where to connect and what to send as `Host`, from `http://HOST:PORT/[?token=T]`.
struct Target {
    addr: SocketAddr,
    host: String,
    /// Sent as `Authorization: Bearer T` when the address carries `?token=T`.
    token: Option<String>,
}

fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// addresses are served"))?;
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let token = tail
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|p| p.strip_prefix("token=")))
        .map(str::to_string);
    if authority.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let with_port = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:80")
    } else {
        authority.to_string()
    };
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .collect();
    let addr = *addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .ok_or_else(|| format!("{url}: the host has no address"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{url}: a load test runs against a loopback address only"
        ));
    }
    Ok(Target {
        addr,
        host: authority.to_string(),
        token,
    })
}

/// Percent-encodes a query value (everything but unreserved characters and `/`).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What the clients send.
enum Work {
    /// By indexed file: the paths in a seeded random order; request `i` asks for `i % len`.
    Paths {
        paths: Vec<String>,
        head_rest: String,
    },
    /// By upload: the whole request, the same every time.
    Upload(Vec<u8>),
}

impl Work {
    fn new(args: &Args, target: &Target) -> Result<Work, String> {
        let mut common = format!("Host: {}\r\n", target.host);
        if let Some(t) = &target.token {
            common.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        let query = format!("k={}&mode={}", args.k, args.mode);
        if let Some(file) = &args.paths {
            let text =
                std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let mut paths: Vec<String> = text
                .lines()
                .map(str::trim_end)
                .filter(|l| !l.is_empty())
                .map(|l| format!("GET /api/query?path={}&{query} HTTP/1.1\r\n", encode(l)))
                .collect();
            if paths.is_empty() {
                return Err(format!("{}: no paths", file.display()));
            }
            paths.shuffle(&mut ChaCha8Rng::seed_from_u64(args.seed));
            common.push_str("\r\n");
            return Ok(Work::Paths {
                paths,
                head_rest: common,
            });
        }
        let file = args.upload.as_ref().expect("checked: paths or upload");
        let body = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut request = format!(
            "POST /api/query?{query} HTTP/1.1\r\n{common}X-Lookalike: 1\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        Ok(Work::Upload(request))
    }

    /// Request `i`, whole.
    fn request(&self, i: usize) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Work::Paths { paths, head_rest } => {
                let mut r = paths[i % paths.len()].clone().into_bytes();
                r.extend_from_slice(head_rest.as_bytes());
                r.into()
            }
            Work::Upload(r) => r.as_slice().into(),
        }
    }
}

/// How an exchange failed: before any byte of the answer came (a kept-alive connection the
/// server had closed: try again on a new one), or after.
enum Failure {
    Before(io::Error),
    After(io::Error),
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

struct Response {
    status: u16,
    body: Vec<u8>,
}

/// One connection at a time to the server, opened again when the server closes it.
struct Client {
    addr: SocketAddr,
    timeout: Duration,
    conn: Option<BufReader<TcpStream>>,
    connections: usize,
}

impl Client {
    fn new(addr: SocketAddr, timeout: Duration) -> Client {
        Client {
            addr,
            timeout,
            conn: None,
            connections: 0,
        }
    }

    fn connect(&mut self) -> io::Result<()> {
        let stream = TcpStream::connect_timeout(&self.addr, self.timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        self.conn = Some(BufReader::with_capacity(64 << 10, stream));
        self.connections += 1;
        Ok(())
    }

    /// Sends `request` and reads the answer, on the open connection or a new one.
    fn send(&mut self, request: &[u8]) -> io::Result<Response> {
        let mut retried = false;
        loop {
            let reused = self.conn.is_some();
            if !reused {
                self.connect()?;
            }
            let conn = self.conn.as_mut().expect("connected");
            match exchange(conn, request) {
                Ok((response, keep)) => {
                    if !keep {
                        self.conn = None;
                    }
                    return Ok(response);
                }
                Err(Failure::Before(e)) if reused && !retried && closed(&e) => {
                    self.conn = None;
                    retried = true;
                }
                Err(Failure::Before(e) | Failure::After(e)) => {
                    self.conn = None;
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("no answer within {} s", self.timeout.as_secs_f64()),
                        ));
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// Whether an error means the server had closed the connection (a kept-alive connection
/// it closed while idle: the request may be sent again on a new one).
fn closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// Writes the request and reads one answer; `keep`: the connection may serve the next.
fn exchange(conn: &mut BufReader<TcpStream>, request: &[u8]) -> Result<(Response, bool), Failure> {
    conn.get_mut()
        .write_all(request)
        .and_then(|_| conn.get_mut().flush())
        .map_err(Failure::Before)?;
    let mut first = true;
    loop {
        let mut line = Vec::new();
        let n = conn
            .by_ref()
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .map_err(|e| {
                if first {
                    Failure::Before(e)
                } else {
                    Failure::After(e)
                }
            })?;
        if n == 0 && first {
            return Err(Failure::Before(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection before answering",
            )));
        }
        first = false;
        let answer = read_rest(conn, &line).map_err(Failure::After)?;
        // An interim answer (100 Continue, 103 Early Hints): the real one follows.
        if let Some(answer) = answer {
            return Ok(answer);
        }
    }
}

/// Reads the headers and body after the status line `line`; `None` for an interim answer.
fn read_rest(conn: &mut BufReader<TcpStream>, line: &[u8]) -> io::Result<Option<(Response, bool)>> {
    let line = std::str::from_utf8(line).map_err(|_| bad("status line is not text"))?;
    let line = line.trim_end_matches(['\r', '\n']);
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line `{line}`")))?;
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(bad(format!("bad status line `{line}`"))),
    };
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = !http11;
    for count in 0.. {
        let header = read_line(conn)?;
        if header.is_empty() {
            break;
        }
        if count >= MAX_HEADERS {
            return Err(bad("too many headers"));
        }
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| bad(format!("bad header `{header}`")))?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                let n = value
                    .parse()
                    .map_err(|_| bad(format!("bad Content-Length `{value}`")))?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad("two different Content-Length headers"));
                }
                length = Some(n);
            }
            "transfer-encoding" => {
                chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
                if !chunked {
                    return Err(bad(format!("unsupported Transfer-Encoding `{value}`")));
                }
            }
            "connection" => {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") && !http11 {
                        close = false;
                    }
                }
            }
            _ => {}
        }
    }
    if (100..200).contains(&status) {
        if status == 101 {
            return Err(bad("the server switched protocols"));
        }
        return Ok(None);
    }
    let mut body = Vec::new();
    if status == 204 || status == 304 {
        // No body, whatever the headers say.
    } else if chunked {
        loop {
            let size_line = read_line(conn)?;
            let size = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| bad(format!("bad chunk size `{size_line}`")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !read_line(conn)?.is_empty() {}
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err(bad("body too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            conn.read_exact(&mut body[start..])?;
            if !read_line(conn)?.is_empty() {
                return Err(bad("chunk not followed by CRLF"));
            }
        }
    } else if let Some(n) = length {
        if n > MAX_BODY {
            return Err(bad("body too large"));
        }
        body.resize(n, 0);
        conn.read_exact(&mut body)?;
    } else {
        // Delimited by the end of the connection.
        conn.by_ref().take(MAX_BODY as u64).read_to_end(&mut body)?;
        close = true;
    }
    Ok(Some((Response { status, body }, !close)))
}

/// One header line without its line end; an error at the end of the connection.
fn read_line(conn: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut line = Vec::new();
    conn.by_ref().take(MAX_LINE).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the answer ended early (or a line was too long)",
        ));
    }
    let text = String::from_utf8(line).map_err(|_| bad("header line is not text"))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// What one client thread saw.
#[derive(Default)]
struct Tally {
    /// Latency of each 200 answer (nanoseconds).
    latencies: Vec<u64>,
    errors: usize,
    /// The first error: when, which request, what.
    first_error: Option<(Instant, usize, String)>,
    connections: usize,
}

fn describe(response: &Response) -> String {
    let text = String::from_utf8_lossy(&response.body);
    let mut text = text.trim().to_string();
    if text.len() > MAX_ERROR_TEXT {
        let mut cut = MAX_ERROR_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    format!("HTTP {}: {text}", response.status)
}

struct Shared {
    work: Work,
    requests: usize,
    next: AtomicUsize,
    deadline: Option<Instant>,
    stopped_early: AtomicBool,
}

fn run_client(shared: &Shared, mut client: Client) -> Tally {
    let mut tally = Tally::default();
    loop {
        if shared.deadline.is_some_and(|d| Instant::now() >= d) {
            if shared.next.load(Ordering::Relaxed) < shared.requests {
                shared.stopped_early.store(true, Ordering::Relaxed);
            }
            break;
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= shared.requests {
            break;
        }
        let request = shared.work.request(i);
        let started = Instant::now();
        let outcome = client.send(&request);
        let elapsed = started.elapsed();
        let error = match outcome {
            Ok(r) if r.status == 200 => {
                tally.latencies.push(elapsed.as_nanos() as u64);
                None
            }
            Ok(r) => Some(describe(&r)),
            Err(e) => Some(format!("connection to {}: {e}", client.addr)),
        };
        if let Some(e) = error {
            tally.errors += 1;
            if tally.first_error.is_none() {
                tally.first_error = Some((Instant::now(), i, e));
            }
        }
    }
    tally.connections = client.connections;
    tally
}

/// `VmRSS` and `VmHWM` of a process, in kB.
fn memory(pid: u32) -> Result<(u64, u64), String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .ok_or_else(|| format!("{path}: no {name}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// The `p`-th quantile of sorted values, nearest rank, in milliseconds.
fn quantile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

fn round(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x * scale).round() / scale
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("serve_load: {e}\n{USAGE}");
        std::process::exit(2);
    });
    let fail = |e: String| -> ! {
        eprintln!("serve_load: {e}");
        std::process::exit(2);
    };
    let target = parse_url(&args.url).unwrap_or_else(|e| fail(e));
    let work = Work::new(&args, &target).unwrap_or_else(|e| fail(e));
    let timeout = Duration::from_secs_f64(args.timeout);
    let before = args.pid.map(|p| memory(p).unwrap_or_else(|e| fail(e)));

    // Connections first, so that the clock measures queries.
    let mut clients = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let mut client = Client::new(target.addr, timeout);
        if let Err(e) = client.connect() {
            fail(format!("cannot connect to {}: {e}", target.addr));
        }
        clients.push(client);
    }
    let started = Instant::now();
    let shared = Arc::new(Shared {
        work,
        requests: args.requests,
        next: AtomicUsize::new(0),
        deadline: args
            .max_seconds
            .map(|s| started + Duration::from_secs_f64(s)),
        stopped_early: AtomicBool::new(false),
    });
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(n, client)| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("client-{n}"))
                .spawn(move || run_client(&shared, client))
                .expect("spawn a client thread")
        })
        .collect();
    let tallies: Vec<Tally> = threads
        .into_iter()
        .map(|t| t.join().expect("a client thread panicked"))
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    let after = args.pid.map(|p| memory(p).unwrap_or_else(|e| fail(e)));

    let mut latencies: Vec<u64> = tallies
        .iter()
        .flat_map(|t| t.latencies.iter().copied())
        .collect();
    latencies.sort_unstable();
    let errors: usize = tallies.iter().map(|t| t.errors).sum();
    let connections: usize = tallies.iter().map(|t| t.connections).sum();
    let first_error = tallies
        .iter()
        .filter_map(|t| t.first_error.as_ref())
        .min_by_key(|(at, _, _)| *at);
    let answered = latencies.len() + errors;
    let throughput = answered as f64 / seconds;
    let stopped_early = shared.stopped_early.load(Ordering::Relaxed);
    let kind = if args.paths.is_some() {
        "path"
    } else {
        "upload"
    };
    let (p50, p90, p99, max) = (
        quantile_ms(&latencies, 0.50),
        quantile_ms(&latencies, 0.90),
        quantile_ms(&latencies, 0.99),
        quantile_ms(&latencies, 1.0),
    );

    if args.json {
        let mut v = json!({
            "query": kind,
            "clients": args.clients,
            "requests": answered,
            "asked": args.requests,
            "ok": latencies.len(),
            "errors": errors,
            "connections": connections,
            "stopped_early": stopped_early,
            "seconds": round(seconds, 3),
            "throughput": round(throughput, 2),
            "p50_ms": round(p50, 3),
            "p90_ms": round(p90, 3),
            "p99_ms": round(p99, 3),
            "max_ms": round(max, 3),
            "first_error": first_error.map(|(_, i, e)| json!({"request": i, "error": e})),
        });
        if let (Some((rss0, hwm0)), Some((rss1, hwm1))) = (before, after) {
            v["rss_before_kb"] = json!(rss0);
            v["rss_after_kb"] = json!(rss1);
            v["hwm_before_kb"] = json!(hwm0);
            v["hwm_after_kb"] = json!(hwm1);
        }
        println!("{v}");
    } else {
        let mut line = format!(
            "{kind} queries: clients {}, requests {answered}/{}{}, errors {errors}, \
             connections {connections}, {seconds:.2} s, {throughput:.1} req/s, \
             latency ms p50 {p50:.1} p90 {p90:.1} p99 {p99:.1} max {max:.1}",
            args.clients,
            args.requests,
            if stopped_early { " (time limit)" } else { "" },
        );
        if let (Some((rss0, hwm0)), Some((rss1, hwm1))) = (before, after) {
            let mib = |kb: u64| kb as f64 / 1024.0;
            line.push_str(&format!(
                "; server VmRSS {:.1} -> {:.1} MiB ({:+} kB), VmHWM {:.1} -> {:.1} MiB",
                mib(rss0),
                mib(rss1),
                rss1 as i64 - rss0 as i64,
                mib(hwm0),
                mib(hwm1),
            ));
        }
        println!("{line}");
    }
    if let Some((_, i, e)) = first_error {
        eprintln!("serve_load: {errors} error(s); the first (request {i}): {e}");
        std::process::exit(1);
    }
}
