//! What a line that is not a valid message can still tell: whether it is a
//! JSON object, its top-level `id`, and whether it asks (a `method`) or
//! answers (a `result` or `error`). Read as bytes stream past, in constant
//! memory, so that it works on a line cut short, a line that is not UTF-8,
//! and a line too long to keep, wherever in it the `id` is.

use serde_json::Value;

/// The longest `id` value kept: request ids are short.
const MAX_ID_BYTES: usize = 256;
/// The longest member name worth reading: `method`, `result`, `error`, `id`.
const MAX_KEY_BYTES: usize = 8;

/// Reads the top-level members of a JSON object from its bytes.
#[derive(Debug, Default)]
pub(super) struct Sniffer {
    /// How deep in brackets the byte being read is: 1 is the top-level object.
    depth: usize,
    /// Not one JSON object (or not one this can follow): nothing more is
    /// read, and nothing told.
    lost: bool,
    /// The top-level object has ended.
    closed: bool,
    in_string: bool,
    escaped: bool,
    /// At the top level, a member name comes next (not a value).
    expecting_key: bool,
    key: Vec<u8>,
    /// The top-level member whose value is being read.
    member: Member,
    id_bytes: Vec<u8>,
    /// The complete top-level `id`, as written.
    id: Option<Vec<u8>>,
    has_method: bool,
    has_answer: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Member {
    #[default]
    Other,
    Id,
}

impl Sniffer {
    /// Sniffs a whole line.
    pub(super) fn line(line: &[u8]) -> Self {
        let mut sniffer = Self::default();
        sniffer.feed(line);
        sniffer
    }

    /// Reads the next bytes of the line.
    pub(super) fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.lost {
                return;
            }
            self.read(byte);
        }
    }

    /// The request id, when the line names one and asks something: the one
    /// kind of line that can be answered. A line that answers a request of
    /// the server's is not the host's to be answered.
    pub(super) fn request_id(&self) -> Option<Value> {
        if self.has_answer && !self.has_method {
            return None;
        }
        self.id()
    }

    /// The top-level `id`, when it is a string or a number.
    pub(super) fn id(&self) -> Option<Value> {
        if self.lost {
            return None;
        }
        let id = serde_json::from_slice::<Value>(self.id.as_deref()?).ok()?;
        (id.is_string() || id.is_number()).then_some(id)
    }

    fn read(&mut self, byte: u8) {
        let reading_id = self.depth >= 1 && self.member == Member::Id && !self.expecting_key;
        if self.in_string {
            if reading_id {
                self.keep_id_byte(byte);
            } else if self.depth == 1 && self.expecting_key && self.key.len() <= MAX_KEY_BYTES {
                self.key.push(byte);
            }
            if self.escaped {
                self.escaped = false;
            } else if byte == b'\\' {
                self.escaped = true;
            } else if byte == b'"' {
                self.in_string = false;
            }
            return;
        }
        match byte {
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'{' if self.depth == 0 && !self.closed => {
                self.depth = 1;
                self.expecting_key = true;
            }
            // Not an object, or more after it.
            _ if self.depth == 0 => self.lost = true,
            b'"' if self.depth == 1 && self.expecting_key => {
                self.in_string = true;
                self.key.clear();
            }
            b':' if self.depth == 1 && self.expecting_key => self.start_value(),
            b',' if self.depth == 1 => self.end_value(),
            b'}' if self.depth == 1 => {
                self.end_value();
                self.depth = 0;
                self.closed = true;
            }
            b']' if self.depth == 1 => self.lost = true,
            _ => {
                if reading_id {
                    self.keep_id_byte(byte);
                }
                match byte {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => self.depth -= 1,
                    _ => {}
                }
            }
        }
    }

    fn start_value(&mut self) {
        // The key was kept with its closing quote.
        let key = self.key.strip_suffix(b"\"").unwrap_or(&self.key);
        self.member = Member::Other;
        match key {
            b"id" => {
                self.member = Member::Id;
                self.id_bytes.clear();
            }
            b"method" => self.has_method = true,
            b"result" | b"error" => self.has_answer = true,
            _ => {}
        }
        self.expecting_key = false;
    }

    fn end_value(&mut self) {
        if self.member == Member::Id && !self.expecting_key {
            self.id =
                (self.id_bytes.len() <= MAX_ID_BYTES).then(|| std::mem::take(&mut self.id_bytes));
        }
        self.member = Member::Other;
        self.expecting_key = true;
    }

    fn keep_id_byte(&mut self, byte: u8) {
        // One byte past the cap marks an id too long to keep.
        if self.id_bytes.len() <= MAX_ID_BYTES {
            self.id_bytes.push(byte);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request_id(line: &[u8]) -> Option<Value> {
        Sniffer::line(line).request_id()
    }

    #[test]
    fn the_id_is_found_wherever_it_is() {
        for line in [
            &br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"a":[1,{"id":9}]}}"#[..],
            br#"{"method":"tools/call","params":{"id":9,"b":"}\"{"},"jsonrpc":"2.0","id":7}"#,
            br#" { "id" : 7 , "method" : "x" } "#,
            // Cut short, or not UTF-8, after the id.
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"text":"abc"#,
            b"{\"id\":7,\"method\":\"x\",\"params\":\"\xff\xfe\"}",
        ] {
            assert_eq!(
                request_id(line),
                Some(json!(7)),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        assert_eq!(
            request_id(br#"{"id":"a \"quoted\" id","method":"x"}"#),
            Some(json!("a \"quoted\" id"))
        );
        assert_eq!(request_id(br#"{"id":1.5}"#), Some(json!(1.5)));
    }

    #[test]
    fn no_id_where_none_can_be_told() {
        for line in [
            &b"42"[..],
            b"\"id\"",
            b"null",
            b"[{\"id\":1,\"method\":\"x\"}]",
            b"{\"params\":{\"id\":1},\"method\":\"x\"}",
            br#"{"id":null,"method":"x"}"#,
            br#"{"id":{"a":1},"method":"x"}"#,
            br#"{"id":[1],"method":"x"}"#,
            br#"{"method":"x","id":12"#,
            br#"{"id":1}{"id":2}"#,
            b"\xff\xfe",
        ] {
            assert_eq!(request_id(line), None, "{}", String::from_utf8_lossy(line));
        }
        let long = format!(r#"{{"id":"{}","method":"x"}}"#, "x".repeat(MAX_ID_BYTES));
        assert_eq!(request_id(long.as_bytes()), None);
    }

    #[test]
    fn an_answer_has_an_id_but_is_not_answered() {
        let answer = Sniffer::line(br#"{"jsonrpc":"2.0","id":3,"result":{"x":"#);
        assert_eq!(answer.id(), Some(json!(3)));
        assert_eq!(answer.request_id(), None);
        let both = Sniffer::line(br#"{"id":3,"error":{},"method":"x"}"#);
        assert_eq!(both.request_id(), Some(json!(3)));
    }

    #[test]
    fn bytes_fed_in_any_pieces_read_the_same() {
        let line = br#"{"method":"m","params":{"s":"\\\"}"},"id":"the-id"}"#;
        for size in 1..line.len() {
            let mut sniffer = Sniffer::default();
            for piece in line.chunks(size) {
                sniffer.feed(piece);
            }
            assert_eq!(
                sniffer.request_id(),
                Some(json!("the-id")),
                "pieces of {size}"
            );
        }
    }
}
