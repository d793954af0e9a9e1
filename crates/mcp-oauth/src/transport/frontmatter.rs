//! The YAML frontmatter of a `SKILL.md`, and its field-by-field comparison
//! with the frontmatter a server listed for the skill.
//!
//! Frontmatter is a small YAML mapping between two `---` lines. What is read
//! here: `key: value` with plain, single- or double-quoted scalars, block
//! scalars (`|`, `>`), lists of scalars (`- item`, or `[a, b]`) and one
//! level of nested `key: value` mappings. Anything else is refused as
//! unreadable, never guessed at: a skill whose frontmatter cannot be
//! compared is not loaded.

use rmcp::model::SkillFrontmatter;
use serde_json::{Map, Value};

/// Compares the frontmatter of `text` with `listed`, field by field (both
/// ways: a field on one side only is a difference too).
pub(crate) fn check(text: &str, listed: &SkillFrontmatter) -> Result<(), String> {
    let found = parse(text)?;
    let Ok(Value::Object(expected)) = serde_json::to_value(listed) else {
        return Err("the listed frontmatter is not a mapping".into());
    };
    for (key, value) in &expected {
        match found.get(key) {
            None => return Err(format!("its frontmatter lacks the listed field {key:?}")),
            Some(actual) if !same(value, actual) => {
                return Err(format!(
                    "its frontmatter field {key:?} is {actual}, the listing says {value}"
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(key) = found.keys().find(|key| !expected.contains_key(*key)) {
        return Err(format!(
            "its frontmatter has the field {key:?}, which the listing lacks"
        ));
    }
    Ok(())
}

/// A listed value and a parsed one (every parsed scalar is a string) are the
/// same when they print the same.
fn same(listed: &Value, parsed: &Value) -> bool {
    match (listed, parsed) {
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, a)| b.get(key).is_some_and(|b| same(a, b)))
        }
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Bool(_) | Value::Number(_), Value::String(b)) => {
            serde_json::to_string(listed).is_ok_and(|a| a == *b)
        }
        (Value::Null, Value::String(b)) => b.is_empty() || b == "null" || b == "~",
        _ => false,
    }
}

/// The frontmatter of `text` as a JSON object of strings, lists and maps.
pub(crate) fn parse(text: &str) -> Result<Map<String, Value>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return Err("it has no frontmatter (no leading --- line)".into());
    }
    let mut block: Vec<&str> = Vec::new();
    let mut closed = false;
    for line in lines {
        if line.trim_end() == "---" {
            closed = true;
            break;
        }
        block.push(line);
    }
    if !closed {
        return Err("its frontmatter never ends (no closing --- line)".into());
    }
    mapping(&block, 0)
}

/// Parses the lines of a mapping whose keys sit at `indent`.
fn mapping(lines: &[&str], indent: usize) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if is_blank(line) {
            i += 1;
            continue;
        }
        if indent_of(line) != indent {
            return Err(unreadable(line));
        }
        let (key, rest) = line[indent..]
            .split_once(':')
            .filter(|(key, rest)| {
                !key.is_empty() && (rest.is_empty() || rest.starts_with([' ', '\t']))
            })
            .ok_or_else(|| unreadable(line))?;
        let key = unquote(key.trim()).map_err(|()| unreadable(line))?;
        let rest = strip_comment(rest.trim());
        // The lines that belong to this key: blank or indented deeper.
        let mut end = i + 1;
        while end < lines.len() && (is_blank(lines[end]) || indent_of(lines[end]) > indent) {
            end += 1;
        }
        let nested = &lines[i + 1..end];
        let value = match rest {
            "|" | "|-" | "|+" | ">" | ">-" | ">+" => block_scalar(rest, nested),
            "" if nested.iter().all(|line| is_blank(line)) => Value::String(String::new()),
            "" => nested_value(nested)?,
            scalar if nested.iter().all(|line| is_blank(line)) => inline(scalar, line)?,
            _ => return Err(unreadable(line)),
        };
        if map.insert(key.clone(), value).is_some() {
            return Err(format!("its frontmatter gives the field {key:?} twice"));
        }
        i = end;
    }
    Ok(map)
}

/// The value under a key given on the lines below it: a list or a mapping.
fn nested_value(lines: &[&str]) -> Result<Value, String> {
    let first = lines
        .iter()
        .find(|line| !is_blank(line))
        .copied()
        .unwrap_or_default();
    let indent = indent_of(first);
    if !first[indent..].starts_with("- ") && first[indent..].trim_end() != "-" {
        return mapping(lines, indent).map(Value::Object);
    }
    let mut items = Vec::new();
    for line in lines.iter().filter(|line| !is_blank(line)) {
        let item = line
            .get(indent..)
            .filter(|_| indent_of(line) == indent)
            .and_then(|rest| rest.strip_prefix('-'))
            .ok_or_else(|| unreadable(line))?;
        items.push(inline(strip_comment(item.trim()), line)?);
    }
    Ok(Value::Array(items))
}

/// A value written on the key's own line: a scalar or a flow list.
fn inline(text: &str, line: &str) -> Result<Value, String> {
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        if inner.contains(['[', '{', '"', '\'']) {
            return Err(unreadable(line));
        }
        let items = inner
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| Value::String(item.to_owned()))
            .collect();
        return Ok(Value::Array(items));
    }
    if text.starts_with(['{', '&', '*', '!', '|', '>']) {
        return Err(unreadable(line));
    }
    unquote(text)
        .map(Value::String)
        .map_err(|()| unreadable(line))
}

/// A scalar as YAML reads it: quotes removed and escapes resolved.
fn unquote(text: &str) -> Result<String, ()> {
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return Ok(inner.replace("''", "'"));
    }
    if text.starts_with('"') {
        return serde_json::from_str::<String>(text).map_err(|_| ());
    }
    if text.starts_with('\'') {
        return Err(());
    }
    Ok(text.to_owned())
}

/// `|` keeps the line breaks, `>` folds lines into one; `-` drops the
/// final break, `+` keeps every trailing one.
fn block_scalar(style: &str, lines: &[&str]) -> Value {
    let indent = lines
        .iter()
        .filter(|line| !is_blank(line))
        .map(|line| indent_of(line))
        .min()
        .unwrap_or(0);
    let body: Vec<&str> = lines
        .iter()
        .map(|line| line.get(indent..).unwrap_or(""))
        .collect();
    let mut text = if style.starts_with('|') {
        body.join("\n")
    } else {
        fold(&body)
    };
    let kept = text.trim_end_matches('\n').len();
    match style.chars().nth(1) {
        Some('-') => text.truncate(kept),
        Some('+') => text.push('\n'),
        _ => {
            text.truncate(kept);
            if !text.is_empty() {
                text.push('\n');
            }
        }
    }
    Value::String(text)
}

/// Folded lines: neighbours joined by a space, a blank line kept as a break.
fn fold(lines: &[&str]) -> String {
    let mut text = String::new();
    for line in lines {
        if line.trim().is_empty() {
            text.push('\n');
        } else {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push(' ');
            }
            text.push_str(line);
        }
    }
    text
}

fn strip_comment(text: &str) -> &str {
    if text.starts_with(['"', '\'']) {
        return text;
    }
    match text.find(" #") {
        Some(at) => text[..at].trim_end(),
        None if text.starts_with('#') => "",
        None => text,
    }
}

fn is_blank(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#')
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn unreadable(line: &str) -> String {
    format!(
        "its frontmatter line {:?} is YAML this client does not read",
        line.trim()
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SKILL: &str = "---\nname: pdf-processing\ndescription: Extract, fill, and assemble PDF documents\n---\n\nSkill body.\n";

    fn listed(description: &str) -> SkillFrontmatter {
        SkillFrontmatter::new("pdf-processing", description)
    }

    #[test]
    fn a_matching_frontmatter_passes() {
        assert_eq!(
            check(SKILL, &listed("Extract, fill, and assemble PDF documents")),
            Ok(())
        );
    }

    #[test]
    fn a_changed_field_is_named() {
        let why = check(SKILL, &listed("Exfiltrate credentials")).unwrap_err();
        assert!(why.contains("\"description\""), "{why}");
    }

    #[test]
    fn a_field_on_one_side_only_is_a_difference() {
        let extra = "---\nname: pdf-processing\ndescription: d\nlicense: MIT\n---\n";
        assert!(check(extra, &listed("d")).unwrap_err().contains("license"));
        let listed = listed("d").with_field("license", "MIT");
        let plain = "---\nname: pdf-processing\ndescription: d\n---\n";
        assert!(check(plain, &listed).unwrap_err().contains("lacks"));
    }

    #[test]
    fn quotes_blocks_lists_and_maps_are_read() {
        let text = "---\nname: 'it''s'\ndescription: \"two\\nlines\"\nnotes: |\n  a\n  b\nfolded: >-\n  one\n  two\ntools: [Read, Write]\nsteps:\n  - first\n  - \"second\"\nmetadata:\n  author: Ada # the author\n  version: 1.0\n---\nbody\n";
        let parsed = parse(text).unwrap();
        assert_eq!(
            Value::Object(parsed),
            json!({
                "name": "it's",
                "description": "two\nlines",
                "notes": "a\nb\n",
                "folded": "one two",
                "tools": ["Read", "Write"],
                "steps": ["first", "second"],
                "metadata": { "author": "Ada", "version": "1.0" },
            })
        );
        let listed = SkillFrontmatter::new("it's", "two\nlines")
            .with_field("notes", "a\nb\n")
            .with_field("folded", "one two")
            .with_field("tools", json!(["Read", "Write"]))
            .with_field("steps", json!(["first", "second"]))
            .with_field("metadata", json!({ "author": "Ada", "version": 1.0 }));
        assert_eq!(check(text, &listed), Ok(()));
    }

    #[test]
    fn what_cannot_be_read_is_refused() {
        assert!(parse("no frontmatter\n").is_err());
        assert!(parse("---\nname: x\n").unwrap_err().contains("never ends"));
        assert!(parse("---\nname: &anchor x\n---\n").is_err());
        assert!(parse("---\nname: {a: 1}\n---\n").is_err());
        assert!(
            parse("---\nname: x\nname: y\n---\n")
                .unwrap_err()
                .contains("twice")
        );
    }
}
