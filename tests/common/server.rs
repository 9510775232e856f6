//! `lookalike serve` in a child process, and a small HTTP/1.1 client for its API (one
//! connection per request, loopback only).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};

/// A running server, stopped when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT` (no slash at the end).
    pub base: String,
    /// The address as printed (with `?token=` when the server wants one).
    pub printed: String,
    pub port: u16,
}

impl Server {
    /// Starts `lookalike serve --index INDEX --listen 127.0.0.1:0 ARGS` and waits until it
    /// listens.
    pub fn start(index: &Path, args: &[&str]) -> Server {
        let has_listen = args.contains(&"--listen");
        let mut cmd = super::bin();
        cmd.arg("serve").arg("--index").arg(index).args(args);
        if !has_listen {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lookalike serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        if !line.starts_with("listening on ") {
            let _ = child.kill();
            let mut err = String::new();
            child.stderr.as_mut().unwrap().read_to_string(&mut err).ok();
            panic!("serve did not start: {line:?} {err}");
        }
        let printed = line["listening on ".len()..].trim().to_string();
        let authority = printed
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let port: u16 = authority.rsplit(':').next().unwrap().parse().unwrap();
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            printed,
            port,
        }
    }

    pub fn get(&self, target: &str) -> Response {
        request(self.port, "GET", target, &[], &[])
    }

    /// A JSON POST with the cross-site guard's header.
    pub fn post_json(&self, target: &str, body: &serde_json::Value) -> Response {
        request(
            self.port,
            "POST",
            target,
            &[("Content-Type", "application/json"), ("X-Lookalike", "1")],
            body.to_string().as_bytes(),
        )
    }

    /// A POST of raw bytes with the cross-site guard's header.
    pub fn post_bytes(&self, target: &str, body: &[u8]) -> Response {
        request(self.port, "POST", target, &[("X-Lookalike", "1")], body)
    }

    /// Polls `GET target` until `done` holds for its JSON (at most `secs` seconds).
    pub fn wait_for(
        &self,
        target: &str,
        secs: u64,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = std::time::Instant::now();
        loop {
            let v = self.get(target).json();
            if done(&v) {
                return v;
            }
            assert!(
                start.elapsed().as_secs() < secs,
                "{target} did not get there in {secs} s: {v}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Stops the server as Ctrl-C does and returns its exit status and stderr.
    pub fn stop(mut self) -> (Option<i32>, String) {
        // SIGINT, as Ctrl-C sends.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .as_mut()
            .unwrap()
            .read_to_string(&mut err)
            .ok();
        (status.code(), err)
    }
}

use std::process::Command;

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// One request on its own connection (`Connection: close`). `target` is the path and query.
pub fn request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before taking the whole body.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse(&raw)
}

fn parse(raw: &[u8]) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16)
                    .unwrap();
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    Response {
        status,
        headers,
        body,
    }
}

/// `text` for a URL's query.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
