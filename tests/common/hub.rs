//! A stand-in for the Hugging Face hub on loopback: it serves files in the hub's URL layout
//! (`/ORG/NAME/resolve/REVISION/FILE`) with the headers the hub sends (the commit, the
//! ETag: a git blob SHA-1, or for `model.safetensors` a SHA-256 as `X-Linked-Etag`), and
//! byte ranges. It can corrupt a file (same checksum announced) or cut a download short.

use sha1::Digest as _;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Normal,
    /// `model.safetensors` is served with one byte changed.
    Corrupt,
    /// The first full download of `model.safetensors` stops after this many bytes.
    CutAfter(usize),
}

pub struct FakeHub {
    pub url: String,
    /// The `Range` header of every request for `model.safetensors`.
    pub ranges: Arc<Mutex<Vec<String>>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves `files` (name to bytes) of repository `repo` until the process ends.
pub fn serve(repo: &str, files: HashMap<String, Vec<u8>>, mode: Mode) -> FakeHub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let prefix = format!("/{repo}/resolve/main/");
    let log = ranges.clone();
    let cut_done = Arc::new(Mutex::new(false));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (files, prefix, log, cut_done) =
                (files.clone(), prefix.clone(), log.clone(), cut_done.clone());
            std::thread::spawn(move || {
                let _ = answer(stream, &files, &prefix, mode, &log, &cut_done);
            });
        }
    });
    FakeHub { url, ranges }
}

fn answer(
    mut stream: TcpStream,
    files: &HashMap<String, Vec<u8>>,
    prefix: &str,
    mode: Mode,
    log: &Mutex<Vec<String>>,
    cut_done: &Mutex<bool>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    let Some(file) = path
        .strip_prefix(prefix)
        .and_then(|f| files.get(f).map(|b| (f, b)))
    else {
        return stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    };
    let (name, bytes) = file;
    let lfs = name == "model.safetensors";
    let etag_header = if lfs {
        format!(
            "X-Linked-Etag: \"{}\"\r\nETag: \"lfs\"\r\n",
            hex(&sha2::Sha256::digest(bytes))
        )
    } else {
        let mut h = sha1::Sha1::new();
        h.update(format!("blob {}\0", bytes.len()).as_bytes());
        h.update(bytes);
        format!("ETag: \"{}\"\r\n", hex(&h.finalize()))
    };
    let mut body = bytes.clone();
    if lfs && mode == Mode::Corrupt {
        let mid = body.len() / 2;
        body[mid] ^= 0xff;
    }
    let (start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => {
            let (a, b) = r.split_once('-').unwrap_or((r, ""));
            let a: usize = a.parse().unwrap_or(0);
            let b: usize = b.parse().unwrap_or(body.len() - 1);
            (a, b.min(body.len() - 1))
        }
        None => (0, body.len() - 1),
    };
    if lfs {
        log.lock().unwrap().push(range.clone().unwrap_or_default());
    }
    let slice = &body[start..=end];
    let head = format!(
        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{}\r\nX-Repo-Commit: {COMMIT}\r\n{etag_header}Connection: close\r\n\r\n",
        slice.len(),
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    let full = end + 1 - start > 1;
    if let Mode::CutAfter(n) = mode {
        let mut done = cut_done.lock().unwrap();
        if lfs && full && !*done {
            *done = true;
            stream.write_all(&slice[..n.min(slice.len())])?;
            stream.flush()?;
            // Close without the rest: the client sees the body end early.
            return Ok(());
        }
    }
    stream.write_all(slice)?;
    let _ = reader.read(&mut [0u8; 0]);
    Ok(())
}
