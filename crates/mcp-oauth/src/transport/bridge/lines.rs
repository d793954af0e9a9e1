//! The host's stdin, one line at a time, with a cap: a line longer than the
//! cap is skipped as it streams past (only what can identify it is kept),
//! never held whole.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::sniff::Sniffer;

/// What the next line of input is.
#[derive(Debug)]
pub(super) enum Line {
    /// A line within the cap, without its line ending (`\n` or `\r\n`).
    Within(Vec<u8>),
    /// A line over the cap, skipped up to its newline; what could be made
    /// out of it as it went by.
    TooLong(Sniffer),
}

/// Reads lines of at most `limit` bytes from `input`, as bytes: whether
/// they are text is for the caller to judge (a line that is not UTF-8 is
/// one bad line, not the end of the input).
#[derive(Debug)]
pub(super) struct LineReader<R> {
    input: R,
    limit: usize,
    /// The line read so far, while within the limit.
    line: Vec<u8>,
    /// Set once the line has outgrown the limit: from then on its bytes
    /// only go through this.
    skipping: Option<Sniffer>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub(super) fn new(input: R, limit: usize) -> Self {
        Self {
            input,
            limit,
            line: Vec::new(),
            skipping: None,
        }
    }

    /// The next line; `None` once the input has ended. A last line without
    /// a newline is a line too.
    ///
    /// Cancel-safe: what was read of a line before the future was dropped
    /// stays here for the next call.
    pub(super) async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let available = match self.input.fill_buf().await {
                Ok(available) => available,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if available.is_empty() {
                let unfinished = !self.line.is_empty() || self.skipping.is_some();
                return Ok(unfinished.then(|| self.take_line()));
            }
            let newline = available.iter().position(|&byte| byte == b'\n');
            let piece = &available[..newline.unwrap_or(available.len())];
            if let Some(sniffer) = &mut self.skipping {
                sniffer.feed(piece);
            } else if self.line.len() + piece.len() > self.limit {
                let mut sniffer = Sniffer::default();
                sniffer.feed(&self.line);
                sniffer.feed(piece);
                // Freed now, not at the end of a line that may be long yet.
                self.line = Vec::new();
                self.skipping = Some(sniffer);
            } else {
                keep(&mut self.line, piece, self.limit);
            }
            let used = piece.len() + usize::from(newline.is_some());
            self.input.consume(used);
            if newline.is_some() {
                return Ok(Some(self.take_line()));
            }
        }
    }

    /// Whether the input has ended, without taking anything from it: true
    /// at its end (or when it fails: the next read says how), false as soon
    /// as there is something to read.
    pub(super) async fn at_end(&mut self) -> bool {
        self.input
            .fill_buf()
            .await
            .map_or(true, |available| available.is_empty())
    }

    fn take_line(&mut self) -> Line {
        match self.skipping.take() {
            Some(sniffer) => Line::TooLong(sniffer),
            None => {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Line::Within(line)
            }
        }
    }
}

/// Appends `piece` to `line` (together within `limit`), never growing the
/// buffer past the limit: a line just under it must not cost twice its size.
fn keep(line: &mut Vec<u8>, piece: &[u8], limit: usize) {
    let needed = line.len() + piece.len();
    if needed > line.capacity() {
        let grown = (line.capacity() * 2).clamp(needed, limit.max(needed));
        line.reserve_exact(grown - line.len());
    }
    line.extend_from_slice(piece);
}

#[cfg(test)]
mod tests {
    use tokio::io::BufReader;

    use super::*;

    /// Every line of `input`, read through a buffer of `buffer` bytes (so
    /// that lines arrive in pieces), with `limit`.
    async fn lines(input: &[u8], buffer: usize, limit: usize) -> Vec<Result<Vec<u8>, ()>> {
        let mut reader = LineReader::new(BufReader::with_capacity(buffer, input), limit);
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            lines.push(match line {
                Line::Within(line) => Ok(line),
                Line::TooLong(_) => Err(()),
            });
        }
        lines
    }

    #[tokio::test]
    async fn lines_end_at_lf_or_crlf_and_a_last_line_needs_no_newline() {
        for buffer in [1, 3, 64] {
            let read = lines(b"one\r\ntwo\n\nthree", buffer, 16).await;
            let expected: Vec<Result<Vec<u8>, ()>> = vec![
                Ok(b"one".to_vec()),
                Ok(b"two".to_vec()),
                Ok(Vec::new()),
                Ok(b"three".to_vec()),
            ];
            assert_eq!(read, expected, "buffer {buffer}");
        }
        assert!(lines(b"", 8, 16).await.is_empty());
        assert_eq!(lines(b"\n", 8, 16).await, vec![Ok(Vec::new())]);
    }

    #[tokio::test]
    async fn a_line_over_the_limit_is_skipped_and_the_next_one_read() {
        for buffer in [1, 5, 64] {
            let read = lines(b"12345678\n123456789\nok\n1234567890", buffer, 8).await;
            let expected: Vec<Result<Vec<u8>, ()>> = vec![
                Ok(b"12345678".to_vec()),
                Err(()),
                Ok(b"ok".to_vec()),
                Err(()),
            ];
            assert_eq!(read, expected, "buffer {buffer}");
        }
    }

    #[tokio::test]
    async fn bytes_that_are_not_utf8_are_a_line_like_any_other() {
        let read = lines(b"\xff\xfe\nnext\n", 8, 16).await;
        assert_eq!(read, vec![Ok(b"\xff\xfe".to_vec()), Ok(b"next".to_vec())]);
    }

    #[tokio::test]
    async fn a_line_near_the_limit_never_takes_more_than_the_limit() {
        let limit = 1000;
        let mut input = vec![b'x'; limit];
        input.push(b'\n');
        let mut reader = LineReader::new(BufReader::with_capacity(7, &input[..]), limit);
        let Some(Line::Within(line)) = reader.next_line().await.unwrap() else {
            panic!("a line within the limit");
        };
        assert_eq!(line.len(), limit);
        assert!(line.capacity() <= limit, "{}", line.capacity());
    }
}
