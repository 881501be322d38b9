//! What the client saves and sends: the «Заявление» as a PDF (DejaVu Sans
//! embedded, so `pdftotext` reads the Cyrillic back), the exported
//! certificate (DER and PEM) and the zip archive for the bank.

use std::fs;
use std::io::{BufWriter, Cursor, Write};
use std::path::{Path, PathBuf};

use super::{refuse, StepError};

/// DejaVu Sans (Bitstream Vera license, `assets/fonts/DejaVuSans-LICENSE.txt`).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> StepError + '_ {
    move |e| refuse("io", format!("{}: {e}", path.display()))
}

/// A safe file name inside the output directory (no separators, no `..`).
pub fn out_path(out_dir: &Path, name: &str) -> Result<PathBuf, StepError> {
    if name.is_empty() || name.contains('/') || name.contains('\\') || name.starts_with('.') {
        return Err(refuse(
            "bad_step",
            format!("artifact name {name:?} must be a plain file name"),
        ));
    }
    fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    Ok(out_dir.join(name))
}

/// Writes a one-page A4 PDF with a title and lines of text.
pub fn write_pdf(
    path: &Path,
    title: &str,
    lines: &[String],
    date: (i64, u32, u32),
) -> Result<(), StepError> {
    use printpdf::{Mm, PdfDocument};
    let pdf_err = |e: printpdf::Error| refuse("pdf", format!("{}: {e}", path.display()));
    let (doc, page, layer) = PdfDocument::new(title, Mm(210.0), Mm(297.0), "text");
    let ts = time_of(date);
    let doc = doc
        .with_creation_date(ts)
        .with_mod_date(ts)
        .with_metadata_date(ts)
        .with_document_id("tokenemu-scenario".into())
        .with_producer("tokenemu")
        .with_creator("tokenemu scenario harness");
    let font = doc.add_external_font(Cursor::new(FONT)).map_err(pdf_err)?;
    let l = doc.get_page(page).get_layer(layer);
    l.use_text(title, 16.0, Mm(20.0), Mm(270.0), &font);
    let mut y = 255.0;
    for line in lines {
        for chunk in wrap(line, 80) {
            l.use_text(chunk, 11.0, Mm(20.0), Mm(y), &font);
            y -= 7.0;
        }
    }
    let f = fs::File::create(path).map_err(io_err(path))?;
    let mut w = BufWriter::new(f);
    doc.save(&mut w).map_err(pdf_err)?;
    w.flush().map_err(io_err(path))
}

fn time_of(date: (i64, u32, u32)) -> printpdf::OffsetDateTime {
    let days = super::days_from_civil(date.0, date.1, date.2) as i64;
    printpdf::OffsetDateTime::from_unix_timestamp(days)
        .unwrap_or(printpdf::OffsetDateTime::UNIX_EPOCH)
}

fn wrap(line: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in line.split(' ') {
        if cur.chars().count() + word.chars().count() + 1 > width && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    out.push(cur);
    out
}

/// Writes `<base>.cer` (DER) and `<base>.pem`; returns both names.
pub fn export_certificate(
    out_dir: &Path,
    base: &str,
    der: &[u8],
) -> Result<(String, String), StepError> {
    let cer = format!("{base}.cer");
    let pem = format!("{base}.pem");
    let p = out_path(out_dir, &cer)?;
    fs::write(&p, der).map_err(io_err(&p))?;
    let p = out_path(out_dir, &pem)?;
    fs::write(&p, crate::pki::cert_pem(der)).map_err(io_err(&p))?;
    Ok((cer, pem))
}

/// Zips files of the output directory (stored with a fixed time, so the
/// archive is the same on every run).
pub fn zip_files(
    out_dir: &Path,
    name: &str,
    files: &[String],
    date: (i64, u32, u32),
) -> Result<(), StepError> {
    let path = out_path(out_dir, name)?;
    let f = fs::File::create(&path).map_err(io_err(&path))?;
    let mut z = zip::ZipWriter::new(f);
    let ts = zip::DateTime::from_date_and_time(
        date.0.clamp(1980, 2107) as u16,
        date.1 as u8,
        date.2 as u8,
        12,
        0,
        0,
    )
    .unwrap_or_default();
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(ts);
    for file in files {
        let src = out_path(out_dir, file)?;
        let data = fs::read(&src)
            .map_err(|e| refuse("artifact_missing", format!("{}: {e}", src.display())))?;
        z.start_file(file.as_str(), opts)
            .map_err(|e| refuse("zip", e.to_string()))?;
        z.write_all(&data).map_err(io_err(&path))?;
    }
    z.finish().map_err(|e| refuse("zip", e.to_string()))?;
    Ok(())
}
