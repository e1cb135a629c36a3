//! Reading the CSV file: UTF-8 with or without a byte-order mark, CRLF or LF, quoted fields
//! with delimiters and line breaks, the profile's delimiter. Problems of the whole file (no
//! header, a required column missing) refuse it; problems of one row (a wrong number of
//! columns, invalid UTF-8) are that row's errors and the other rows go on.

use serde_json::json;

use super::profile::Profile;
use super::report::CellError;
use super::ImportError;

/// The file as rows of cells, each with the row number a spreadsheet shows for it.
#[derive(Debug)]
pub struct Table {
    /// For each profile column, its index in the header (`None`: not in the file).
    pub positions: Vec<Option<usize>>,
    pub rows: Vec<RawRow>,
}

#[derive(Debug)]
pub struct RawRow {
    /// The header is row 1; a record with line breaks inside quotes is still one row.
    pub number: u64,
    pub cells: Result<Vec<String>, Vec<CellError>>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads `bytes` as the profile's CSV.
pub fn read(profile: &Profile, bytes: &[u8]) -> Result<Table, ImportError> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(profile.delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let header = match reader.read_byte_record(&mut record) {
        Ok(true) => header_names(&record)?,
        Ok(false) => {
            return Err(ImportError::file(
                "the file is empty: no header row",
                json!({}),
            ))
        }
        Err(e) => {
            return Err(ImportError::file(
                format!("row 1 (the header): {e}"),
                json!({}),
            ))
        }
    };
    let positions = positions(profile, &header)?;

    let mut rows = Vec::new();
    let mut lines = Lines::new(bytes);
    lines.record(&record);
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let number = lines.record(&record);
                if record
                    .iter()
                    .all(|cell| cell.iter().all(u8::is_ascii_whitespace))
                {
                    continue; // a row of empty cells, as spreadsheets export below the data
                }
                if rows.len() as u64 >= profile.max_rows {
                    return Err(ImportError::TooManyRows {
                        profile: profile.name.clone(),
                        limit: profile.max_rows,
                    });
                }
                rows.push(RawRow {
                    number,
                    cells: cells(&record, &header),
                });
            }
            Err(e) => {
                return Err(ImportError::file(
                    format!(
                        "after row {}: the file cannot be read as CSV: {e}",
                        lines.row
                    ),
                    json!({ "row": lines.row }),
                ))
            }
        }
    }
    Ok(Table { positions, rows })
}

/// Spreadsheet row numbers. The csv reader's own line numbers do not count blank lines and
/// CRLF the same way, so rows are counted here from the bytes: a record's row is the line its
/// data starts on, less the line breaks inside quoted fields of the records before it (a
/// spreadsheet shows such a record as one row).
struct Lines<'a> {
    bytes: &'a [u8],
    /// Line breaks in `bytes[..counted]`.
    breaks: u64,
    counted: usize,
    /// Line breaks inside the quoted fields of the records so far.
    quoted: u64,
    /// The row of the last record.
    row: u64,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Lines<'a> {
        Lines {
            bytes,
            breaks: 0,
            counted: 0,
            quoted: 0,
            row: 1,
        }
    }

    /// The row of the record just read.
    fn record(&mut self, record: &csv::ByteRecord) -> u64 {
        // The reader's position is where it resumed: blank lines and the rest of the previous
        // record's CRLF come before the record's data.
        let mut start = record
            .position()
            .map_or(self.counted, |p| p.byte() as usize);
        while self
            .bytes
            .get(start)
            .is_some_and(|b| matches!(b, b'\r' | b'\n'))
        {
            start += 1;
        }
        let start = start.clamp(self.counted, self.bytes.len());
        self.breaks += newlines(&self.bytes[self.counted..start]);
        self.counted = start;
        self.row = 1 + self.breaks - self.quoted.min(self.breaks);
        self.quoted += newlines(record.as_slice());
        self.row
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

fn header_names(record: &csv::ByteRecord) -> Result<Vec<String>, ImportError> {
    record
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            std::str::from_utf8(cell)
                .map(|s| s.trim().to_string())
                .map_err(|_| {
                    ImportError::file(
                        format!(
                            "row 1 (the header), column {}: not UTF-8 text; save the file as \
                             CSV UTF-8",
                            i + 1
                        ),
                        json!({ "row": 1, "column": i + 1 }),
                    )
                })
        })
        .collect()
}

/// Where each profile column is in the header; every required column that is missing, and any
/// column that appears twice, refuse the file.
fn positions(profile: &Profile, header: &[String]) -> Result<Vec<Option<usize>>, ImportError> {
    let mut positions = Vec::with_capacity(profile.columns.len());
    let mut missing = Vec::new();
    let mut doubled = Vec::new();
    for column in &profile.columns {
        let found: Vec<usize> = header
            .iter()
            .enumerate()
            .filter(|(_, h)| h.eq_ignore_ascii_case(&column.header))
            .map(|(i, _)| i)
            .collect();
        if found.len() > 1 {
            doubled.push(column.header.clone());
        }
        if found.is_empty() && (column.required || column.is_key) {
            missing.push(column.header.clone());
        }
        positions.push(found.first().copied());
    }
    if !missing.is_empty() {
        let list = missing
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ImportError::file(
            format!(
                "the file has no column {list}, which profile '{}' requires; the header is: {}",
                profile.name,
                header.join(", ")
            ),
            json!({ "missing_columns": missing, "header": header }),
        ));
    }
    if !doubled.is_empty() {
        return Err(ImportError::file(
            format!(
                "the header has the column{} {} more than once",
                if doubled.len() > 1 { "s" } else { "" },
                doubled.join(", ")
            ),
            json!({ "duplicate_columns": doubled }),
        ));
    }
    Ok(positions)
}

fn cells(record: &csv::ByteRecord, header: &[String]) -> Result<Vec<String>, Vec<CellError>> {
    if record.len() != header.len() {
        return Err(vec![CellError::row(format!(
            "has {} columns, the header has {}; check for an unquoted delimiter or a missing \
             cell",
            record.len(),
            header.len()
        ))]);
    }
    let mut out = Vec::with_capacity(record.len());
    let mut errors = Vec::new();
    for (i, cell) in record.iter().enumerate() {
        match std::str::from_utf8(cell) {
            Ok(s) => out.push(s.to_string()),
            Err(_) => errors.push(CellError::column(
                &header[i],
                "not UTF-8 text; save the file as CSV UTF-8".to_string(),
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::config::ImportProfile;

    fn profile(extra: &str) -> Profile {
        let text = format!(
            "key: ID\ncolumns:\n  ID: {{ field: employee_id }}\n  Name: {{ field: full_name, required: true }}\n  Note: {{ field: custom.note }}\n{extra}"
        );
        let p = ImportProfile::parse(crate::config::from_yaml(&text).unwrap()).unwrap();
        Profile::compile("hr", &p).unwrap()
    }

    #[test]
    fn bom_crlf_quotes_and_row_numbers() {
        let csv = b"\xEF\xBB\xBFID,Name,Note\r\n1,\"Doe, Jane\",\"two\r\nlines\"\r\n\r\n2,Bob,x\r\n3,Ann\r\n";
        let t = read(&profile(""), csv).unwrap();
        assert_eq!(t.positions, [Some(0), Some(1), Some(2)]);
        let numbers: Vec<u64> = t.rows.iter().map(|r| r.number).collect();
        // Row 2 spans two lines but is one spreadsheet row; row 3 is the blank line.
        assert_eq!(numbers, [2, 4, 5]);
        assert_eq!(
            t.rows[0].cells.as_ref().unwrap(),
            &["1", "Doe, Jane", "two\r\nlines"]
        );
        let Err(e) = &t.rows[2].cells else {
            panic!("a short row is an error")
        };
        assert!(e[0].reason.contains("has 2 columns, the header has 3"));
    }

    #[test]
    fn missing_required_column_refuses_the_file() {
        let e = read(&profile(""), b"ID,Note\n1,x\n").unwrap_err();
        assert!(e.to_string().contains("no column \"Name\""), "{e}");
    }

    #[test]
    fn delimiter_and_invalid_utf8() {
        let t = read(
            &profile("delimiter: ';'\n"),
            b"id;name;note\n1;A\xff;x\n2;B;y\n",
        )
        .unwrap();
        let Err(e) = &t.rows[0].cells else {
            panic!("invalid UTF-8 is an error")
        };
        assert_eq!(e[0].column.as_deref(), Some("name"));
        assert!(t.rows[1].cells.is_ok());
    }

    #[test]
    fn too_many_rows() {
        let e = read(&profile("max_rows: 1\n"), b"ID,Name\n1,A\n2,B\n").unwrap_err();
        assert!(
            matches!(e, ImportError::TooManyRows { limit: 1, .. }),
            "{e}"
        );
    }
}
