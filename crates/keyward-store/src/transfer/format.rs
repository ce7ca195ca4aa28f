//! The export file, line by line:
//!
//! ```text
//! {"format":"keyward-export","version":2,"tables":[{"name":"meta","columns":["name","value"]},…]}
//! {"table":"meta","row":["account-id","MDAwMDAwMDAwMDAw"]}
//! …
//! {"counts":{"meta":5,"keys":2,…}}
//! ```
//!
//! The reader trusts nothing in the file: every line is checked against [`TABLES`] before a
//! value reaches the database, and its errors name the line and the column, never a value
//! (a blob may be wrapped key material).

use std::io::{BufRead, BufWriter, Read, Write};

use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Cell, Kind, Summary, Table, TransferError, FORMAT, TABLES, VERSION};

/// The longest line the reader accepts. A row's largest values (a key document with its
/// policy, a secret's ciphertext, an audit record) are tens of kilobytes.
const MAX_LINE: u64 = 64 << 20;

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Serialize)]
struct Header {
    format: &'static str,
    version: u64,
    tables: Vec<TableHeader>,
}

#[derive(Serialize)]
struct TableHeader {
    name: &'static str,
    columns: Vec<&'static str>,
}

fn header() -> Header {
    Header {
        format: FORMAT,
        version: VERSION,
        tables: TABLES
            .iter()
            .map(|table| TableHeader {
                name: table.name,
                columns: table.columns.iter().map(|c| c.name).collect(),
            })
            .collect(),
    }
}

/// Writes an export: the header when made, a line per [`ExportWriter::row`], the trailer at
/// [`ExportWriter::finish`].
pub(crate) struct ExportWriter<'a> {
    out: BufWriter<&'a mut dyn Write>,
    counts: Vec<u64>,
    /// The table rows are being written for; tables come in [`TABLES`]' order.
    current: usize,
}

impl<'a> ExportWriter<'a> {
    pub(crate) fn start(out: &'a mut dyn Write) -> Result<Self, TransferError> {
        let mut out = BufWriter::with_capacity(1 << 16, out);
        serde_json::to_writer(&mut out, &header()).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        Ok(Self {
            out,
            counts: vec![0; TABLES.len()],
            current: 0,
        })
    }

    /// One row of `TABLES[table]`, its cells in the table's column order.
    pub(crate) fn row(&mut self, table: usize, cells: &[Cell]) -> Result<(), TransferError> {
        debug_assert!(table >= self.current, "tables out of order");
        self.current = table;
        let out = &mut self.out;
        out.write_all(b"{\"table\":\"")?;
        out.write_all(TABLES[table].name.as_bytes())?;
        out.write_all(b"\",\"row\":[")?;
        for (index, cell) in cells.iter().enumerate() {
            if index > 0 {
                out.write_all(b",")?;
            }
            match cell {
                Cell::Null => out.write_all(b"null")?,
                Cell::Text(text) => {
                    serde_json::to_writer(&mut *out, text).map_err(std::io::Error::from)?
                }
                Cell::Int(n) => write!(out, "{n}")?,
                Cell::Blob(bytes) => {
                    out.write_all(b"\"")?;
                    out.write_all(BASE64.encode(bytes).as_bytes())?;
                    out.write_all(b"\"")?;
                }
                Cell::Bool(b) => out.write_all(if *b { b"true" } else { b"false" })?,
            }
        }
        out.write_all(b"]}\n")?;
        self.counts[table] += 1;
        Ok(())
    }

    /// The trailer, `{"counts":{"meta":5,…}}` in [`TABLES`]' order, then a flush.
    pub(crate) fn finish(mut self) -> Result<Summary, TransferError> {
        self.out.write_all(b"{\"counts\":{")?;
        for (index, (table, count)) in TABLES.iter().zip(&self.counts).enumerate() {
            let sep = if index == 0 { "" } else { "," };
            write!(self.out, "{sep}\"{}\":{count}", table.name)?;
        }
        self.out.write_all(b"}}\n")?;
        self.out.flush()?;
        Ok(Summary::of(&self.counts))
    }
}

/// One row read from a file, checked against its table.
pub(crate) struct Row {
    pub(crate) table: usize,
    pub(crate) cells: Vec<Cell>,
}

/// Reads an export, checking every line: see [`ExportReader::next_row`].
pub(crate) struct ExportReader<'a> {
    input: &'a mut dyn BufRead,
    /// The number of the line last read (1-based).
    line: u64,
    buf: String,
    counts: Vec<u64>,
    /// The table of the last row read.
    current: usize,
    /// The first column of the last row of a `postgres_ordinal` table.
    last_group: Option<i64>,
    done: bool,
}

impl<'a> ExportReader<'a> {
    /// Reads and checks the header.
    pub(crate) fn open(input: &'a mut dyn BufRead) -> Result<Self, TransferError> {
        let mut reader = Self {
            input,
            line: 0,
            buf: String::new(),
            counts: vec![0; TABLES.len()],
            current: 0,
            last_group: None,
            done: false,
        };
        let Some(first) = reader.read_line()? else {
            return Err(reader.error("the file is empty, not a Keyward export"));
        };
        reader.check_header(&first)?;
        Ok(reader)
    }

    fn error(&self, message: impl Into<String>) -> TransferError {
        TransferError::Format {
            line: self.line,
            message: message.into(),
        }
    }

    /// The next line as JSON, or `None` at the end of the file.
    fn read_line(&mut self) -> Result<Option<Map<String, Value>>, TransferError> {
        self.buf.clear();
        let read = (&mut *self.input)
            .take(MAX_LINE + 1)
            .read_line(&mut self.buf)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => TransferError::Format {
                    line: self.line + 1,
                    message: "not UTF-8 text".into(),
                },
                _ => TransferError::Io(e),
            })?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        if read as u64 > MAX_LINE {
            return Err(self.error(format!("longer than {MAX_LINE} bytes")));
        }
        // serde_json's syntax errors say where, never what.
        match serde_json::from_str::<Value>(&self.buf) {
            Ok(Value::Object(map)) => Ok(Some(map)),
            Ok(_) => Err(self.error("not a JSON object")),
            Err(e) => Err(self.error(format!("not JSON ({e})"))),
        }
    }

    fn check_header(&self, found: &Map<String, Value>) -> Result<(), TransferError> {
        if found.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(self.error(format!("not a Keyward export (no \"format\":\"{FORMAT}\")")));
        }
        match found.get("version").and_then(Value::as_u64) {
            Some(VERSION) => {}
            Some(other) => {
                return Err(self.error(format!(
                    "export format version {other}; this keyward reads version {VERSION}"
                )))
            }
            None => return Err(self.error("the header has no version")),
        }
        let expected = serde_json::to_value(header().tables).map_err(std::io::Error::from)?;
        if found.get("tables") != Some(&expected) {
            return Err(
                self.error("the header's tables and columns are not the ones this keyward exports")
            );
        }
        if found.len() != 3 {
            return Err(self.error("unknown fields in the header"));
        }
        Ok(())
    }

    /// The next row, or `None` once the trailer has been read and its counts match the
    /// rows read, and nothing follows it. Rows must come in [`TABLES`]' order, each with
    /// one value per column of the kind the column holds.
    pub(crate) fn next_row(&mut self) -> Result<Option<Row>, TransferError> {
        if self.done {
            return Ok(None);
        }
        let Some(mut line) = self.read_line()? else {
            return Err(
                self.error("the file ends before its trailer (the row counts): it was cut short")
            );
        };
        if let Some(counts) = line.remove("counts") {
            if !line.is_empty() {
                return Err(self.error("unknown fields in the trailer"));
            }
            self.check_trailer(&counts)?;
            if self.read_line()?.is_some() {
                return Err(self.error("lines after the trailer"));
            }
            self.done = true;
            return Ok(None);
        }
        let (Some(Value::String(name)), Some(Value::Array(values)), 2) =
            (line.get("table"), line.get("row"), line.len())
        else {
            return Err(self.error("neither a row ({\"table\":…,\"row\":[…]}) nor the trailer"));
        };
        let Some(table) = TABLES.iter().position(|t| t.name == name) else {
            return Err(self.error("a row of an unknown table"));
        };
        if table < self.current {
            return Err(self.error(format!(
                "a row of {} after rows of {}: tables out of order",
                TABLES[table].name, TABLES[self.current].name
            )));
        }
        if table != self.current {
            self.last_group = None;
        }
        self.current = table;
        let cells = self.cells(&TABLES[table], values)?;
        if TABLES[table].postgres_ordinal {
            let Some(Cell::Int(group)) = cells.first() else {
                return Err(self.error("a row without its first column"));
            };
            if self.last_group.is_some_and(|last| *group < last) {
                return Err(self.error(format!("{} rows out of order", TABLES[table].name)));
            }
            self.last_group = Some(*group);
        }
        self.counts[table] += 1;
        Ok(Some(Row { table, cells }))
    }

    fn cells(&self, table: &Table, values: &[Value]) -> Result<Vec<Cell>, TransferError> {
        if values.len() != table.columns.len() {
            return Err(self.error(format!(
                "a row of {} with {} values; it has {} columns",
                table.name,
                values.len(),
                table.columns.len()
            )));
        }
        table
            .columns
            .iter()
            .zip(values)
            .map(|(column, value)| {
                cell(column.kind, value).ok_or_else(|| {
                    self.error(format!(
                        "{}.{}: {}",
                        table.name,
                        column.name,
                        expected(column.kind)
                    ))
                })
            })
            .collect()
    }

    fn check_trailer(&self, counts: &Value) -> Result<(), TransferError> {
        let Value::Object(counts) = counts else {
            return Err(self.error("the trailer's counts are not an object"));
        };
        if counts.len() != TABLES.len() {
            return Err(self.error("the trailer does not count every table"));
        }
        for (table, read) in TABLES.iter().zip(&self.counts) {
            let Some(said) = counts.get(table.name).and_then(Value::as_u64) else {
                return Err(self.error(format!("the trailer has no count for {}", table.name)));
            };
            if said != *read {
                return Err(self.error(format!(
                    "the trailer counts {said} rows of {}, the file holds {read}: rows are missing",
                    table.name
                )));
            }
        }
        Ok(())
    }

    /// The rows read so far, per table.
    pub(crate) fn summary(&self) -> Summary {
        Summary::of(&self.counts)
    }
}

/// What a column of `kind` must hold, for an error message.
fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "expected a string",
        Kind::OptText => "expected a string or null",
        Kind::Int => "expected a 64-bit integer",
        Kind::OptInt => "expected a 64-bit integer or null",
        Kind::Blob => "expected base64",
        Kind::Bool => "expected true or false",
    }
}

/// The cell `value` is, if a column of `kind` may hold it.
fn cell(kind: Kind, value: &Value) -> Option<Cell> {
    match (kind, value) {
        (kind, Value::Null) if kind.nullable() => Some(Cell::Null),
        (Kind::Text | Kind::OptText, Value::String(text)) => Some(Cell::Text(text.clone())),
        (Kind::Int | Kind::OptInt, Value::Number(n)) => n.as_i64().map(Cell::Int),
        (Kind::Blob, Value::String(text)) => BASE64.decode(text).ok().map(Cell::Blob),
        (Kind::Bool, Value::Bool(b)) => Some(Cell::Bool(*b)),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn export(rows: &[(usize, Vec<Cell>)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = ExportWriter::start(&mut out).unwrap();
        for (table, cells) in rows {
            writer.row(*table, cells).unwrap();
        }
        writer.finish().unwrap();
        out
    }

    fn read_all(file: &[u8]) -> Result<Vec<Row>, TransferError> {
        let mut input = file;
        let mut reader = ExportReader::open(&mut input)?;
        let mut rows = Vec::new();
        while let Some(row) = reader.next_row()? {
            rows.push(row);
        }
        Ok(rows)
    }

    fn meta(name: &str, value: &[u8]) -> (usize, Vec<Cell>) {
        (0, vec![Cell::Text(name.into()), Cell::Blob(value.to_vec())])
    }

    fn resource(seq: i64) -> (usize, Vec<Cell>) {
        let table = TABLES.iter().position(|t| t.postgres_ordinal).unwrap();
        (
            table,
            vec![
                Cell::Int(seq),
                Cell::Text("t".into()),
                Cell::Text("n".into()),
            ],
        )
    }

    fn message(result: Result<Vec<Row>, TransferError>) -> String {
        match result {
            Err(TransferError::Format { message, .. }) => message,
            Err(other) => panic!("not a format error: {other}"),
            Ok(_) => panic!("read a bad file"),
        }
    }

    #[test]
    fn rows_come_back_as_written() {
        let rows = vec![
            meta("a", b"\x00\xff"),
            meta("b", b""),
            resource(1),
            resource(1),
        ];
        let read = read_all(&export(&rows)).unwrap();
        let read: Vec<(usize, Vec<Cell>)> = read.into_iter().map(|r| (r.table, r.cells)).collect();
        assert_eq!(read, rows);
    }

    #[test]
    fn a_file_cut_short_or_altered_is_refused() {
        let file = export(&[meta("a", b"1"), meta("b", b"2")]);
        let text = String::from_utf8(file.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let without = |skip: usize| {
            lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, l)| format!("{l}\n"))
                .collect::<String>()
        };
        assert!(message(read_all(without(3).as_bytes())).contains("cut short"));
        assert!(message(read_all(without(2).as_bytes())).contains("rows are missing"));
        assert!(message(read_all(&file[..file.len() / 2])).contains("not JSON"));
        assert!(message(read_all(b"")).contains("empty"));
        let extra = format!("{text}{}\n", lines[1]);
        assert!(message(read_all(extra.as_bytes())).contains("after the trailer"));
        // Version 1 files (before functions were stored) are refused with the reason.
        let other_version = text.replacen("\"version\":2", "\"version\":1", 1);
        assert!(message(read_all(other_version.as_bytes())).contains("version 1"));
    }

    #[test]
    fn rows_must_fit_their_table() {
        let head = String::from_utf8(export(&[])).unwrap();
        let header = head.lines().next().unwrap();
        let with = |line: &str| format!("{header}\n{line}\n");
        let bad = [
            (r#"{"table":"nope","row":[]}"#, "unknown table"),
            (r#"{"table":"meta","row":["a"]}"#, "1 values"),
            (
                r#"{"table":"meta","row":["a","not base64!"]}"#,
                "meta.value: expected base64",
            ),
            (
                r#"{"table":"meta","row":[null,""]}"#,
                "meta.name: expected a string",
            ),
            (
                r#"{"table":"keys","row":["i","a","r",1.5,null,"{}"]}"#,
                "keys.revision",
            ),
            (r#"{"table":"meta","row":["a",""],"x":1}"#, "neither a row"),
            ("[1,2]", "not a JSON object"),
            ("garbage", "not JSON"),
        ];
        for (line, wanted) in bad {
            let got = message(read_all(with(line).as_bytes()));
            assert!(got.contains(wanted), "{line}: {got}");
        }
        // The error names the column, never the value.
        let secret = with(r#"{"table":"keys","row":["i","a","r","sekrit",null,"{}"]}"#);
        assert!(!message(read_all(secret.as_bytes())).contains("sekrit"));
        let invalid_utf8 = [header.as_bytes(), b"\n\xff\xfe\n"].concat();
        assert!(message(read_all(&invalid_utf8)).contains("UTF-8"));
    }

    #[test]
    fn tables_and_grouped_rows_come_in_order() {
        let keys = TABLES.iter().position(|t| t.name == "keys").unwrap();
        let key = (
            keys,
            vec![
                Cell::Text("i".into()),
                Cell::Text("a".into()),
                Cell::Text("r".into()),
                Cell::Int(1),
                Cell::Null,
                Cell::Text("{}".into()),
            ],
        );
        let mut file = String::from_utf8(export(std::slice::from_ref(&key))).unwrap();
        let line = file.lines().nth(1).unwrap().to_owned();
        // A meta row after a keys row.
        let meta_line = r#"{"table":"meta","row":["a",""]}"#;
        file = file.replacen(&line, &format!("{line}\n{meta_line}"), 1);
        assert!(message(read_all(file.as_bytes())).contains("out of order"));
        // Resources of an earlier event after a later one's.
        let text = String::from_utf8(export(&[resource(2), resource(3)])).unwrap();
        let swapped = text.replacen("[2,", "[9,", 1);
        assert!(message(read_all(swapped.as_bytes())).contains("audit_resources rows out of order"));
    }
}
