//! Text for people and for JSON: paths written losslessly (invalid UTF-8 escaped), times
//! as RFC 3339.

use std::path::Path;

/// A path as text: lossless when it is UTF-8, otherwise with the invalid bytes escaped.
pub fn path_text(path: &Path) -> String {
    match path.to_str() {
        Some(s) => s.to_string(),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStrExt;
                path.as_os_str()
                    .as_bytes()
                    .utf8_chunks()
                    .map(|c| {
                        let mut s = c.valid().to_string();
                        for b in c.invalid() {
                            s.push_str(&format!("\\x{b:02x}"));
                        }
                        s
                    })
                    .collect()
            }
            #[cfg(not(unix))]
            {
                path.to_string_lossy().into_owned()
            }
        }
    }
}

/// A path as one word of a shell command line: as it is when it holds only characters no
/// shell treats specially, otherwise in single quotes.
pub fn shell_word(path: &Path) -> String {
    let text = path_text(path);
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c));
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// A modification time in nanoseconds since the Unix epoch as RFC 3339 (UTC, seconds).
pub fn time_text(ns: i64) -> String {
    let time = if ns >= 0 {
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns as u64)
    } else {
        std::time::UNIX_EPOCH
    };
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_the_shell_when_they_need_it() {
        assert_eq!(shell_word(Path::new("/photos/2024")), "/photos/2024");
        assert_eq!(shell_word(Path::new("/my photos")), "'/my photos'");
        assert_eq!(shell_word(Path::new("it's")), "'it'\\''s'");
    }

    #[test]
    fn paths_and_times_read_as_text() {
        assert_eq!(path_text(Path::new("/a/b.jpg")), "/a/b.jpg");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let odd = Path::new(std::ffi::OsStr::from_bytes(b"/a/\xff.jpg"));
            assert_eq!(path_text(odd), "/a/\\xff.jpg");
        }
        assert_eq!(time_text(1_700_000_000_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(time_text(-5), "1970-01-01T00:00:00Z");
    }
}
