//! Byte-level encodings of every file in a store directory.
//!
//! All integers are little-endian. Every decoder works on untrusted bytes:
//! it returns a human-readable reason on any inconsistency and never panics.

use std::collections::BTreeMap;

use crate::Uid;

/// Name of the marker file that identifies a tokenemu store directory.
pub(crate) const MARKER_NAME: &str = "tokenemu-store";
/// First line of the marker file.
pub(crate) const MARKER_MAGIC: &str = "tokenemu-store";
/// On-disk format version written into the marker.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Contents of a freshly written marker file.
pub(crate) fn marker_contents() -> Vec<u8> {
    format!("{MARKER_MAGIC}\nformat {FORMAT_VERSION}\n").into_bytes()
}

/// Checks a marker file; `Err(reason)` means "not (a supported) tokenemu store".
pub(crate) fn check_marker(bytes: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "marker is not UTF-8 text".to_owned())?;
    let mut lines = text.lines();
    match lines.next() {
        Some(MARKER_MAGIC) => {}
        Some(other) => {
            return Err(format!(
                "marker magic is {:?}, expected {MARKER_MAGIC:?}",
                truncate(other)
            ))
        }
        None => return Err("marker file is empty".to_owned()),
    }
    let version_line = lines
        .next()
        .ok_or_else(|| "marker has no format line".to_owned())?;
    let version: u32 = version_line
        .strip_prefix("format ")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("garbled marker format line {:?}", truncate(version_line)))?;
    if version != FORMAT_VERSION {
        return Err(format!(
            "store format version {version} is not supported (this build reads version {FORMAT_VERSION})"
        ));
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

// ---------------------------------------------------------------------------
// Blob file (meta.bin)
// ---------------------------------------------------------------------------

const BLOB_MAGIC: [u8; 4] = *b"TEOB";
const BLOB_VERSION: u16 = 1;
/// Size of the fixed header in front of every blob.
pub(crate) const BLOB_HEADER_LEN: usize = 32;

/// What a blob file holds; recorded in its header (only meta is stored as a
/// single blob; kind 1 is reserved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlobKind {
    Meta = 2,
}

/// Encodes a blob file:
/// `magic "TEOB" | version u16 | kind u16 | uid u64 | generation u64 | len u32 | crc32 u32 | data`.
/// The CRC-32 covers the first 28 header bytes and the data.
pub(crate) fn encode_blob(kind: BlobKind, uid: Uid, generation: u64, data: &[u8]) -> Vec<u8> {
    let len = u32::try_from(data.len()).expect("blob larger than 4 GiB");
    let mut out = Vec::with_capacity(BLOB_HEADER_LEN + data.len());
    out.extend_from_slice(&BLOB_MAGIC);
    out.extend_from_slice(&BLOB_VERSION.to_le_bytes());
    out.extend_from_slice(&(kind as u16).to_le_bytes());
    out.extend_from_slice(&uid.to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&out);
    h.update(data);
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// Verifies a blob file read from disk and returns a copy of its data.
pub(crate) fn decode_blob(bytes: &[u8], kind: BlobKind, uid: Uid) -> Result<Vec<u8>, String> {
    if bytes.len() < BLOB_HEADER_LEN {
        return Err(format!(
            "truncated: {} bytes, shorter than the {BLOB_HEADER_LEN}-byte header",
            bytes.len()
        ));
    }
    let mut c = Cursor::new(&bytes[..BLOB_HEADER_LEN]);
    let magic = c.array::<4>().unwrap_or_default();
    if magic != BLOB_MAGIC {
        return Err(format!("bad magic {magic:02x?}, expected \"TEOB\""));
    }
    let version = c.u16().unwrap_or_default();
    if version != BLOB_VERSION {
        return Err(format!("unsupported blob version {version}"));
    }
    let got_kind = c.u16().unwrap_or_default();
    let got_uid = c.u64().unwrap_or_default();
    let _generation = c.u64().unwrap_or_default();
    let len = c.u32().unwrap_or_default() as usize;
    let crc = c.u32().unwrap_or_default();
    let actual = bytes.len() - BLOB_HEADER_LEN;
    if actual != len {
        return Err(if actual < len {
            format!("truncated: header announces {len} data bytes, file holds {actual}")
        } else {
            format!(
                "{} trailing bytes after the {len} announced data bytes",
                actual - len
            )
        });
    }
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..28]);
    h.update(&bytes[BLOB_HEADER_LEN..]);
    let want = h.finalize();
    if want != crc {
        return Err(format!(
            "checksum mismatch (stored {crc:08x}, computed {want:08x})"
        ));
    }
    if got_kind != kind as u16 {
        return Err(format!(
            "blob kind {got_kind} where kind {} ({kind:?}) was expected",
            kind as u16
        ));
    }
    if got_uid != uid {
        return Err(format!(
            "header names uid {got_uid:016x} but the file belongs to uid {uid:016x}"
        ));
    }
    Ok(bytes[BLOB_HEADER_LEN..].to_vec())
}

// ---------------------------------------------------------------------------
// Pack files (objects/<bucket>.pack)
// ---------------------------------------------------------------------------

/// The bucket an object lives in: the low byte of its uid (256 buckets, one
/// pack file each, present only while non-empty).
pub(crate) fn bucket_of(uid: Uid) -> u8 {
    (uid & 0xff) as u8
}

/// File name of a bucket inside `objects/`.
pub(crate) fn pack_file_name(bucket: u8) -> String {
    format!("{bucket:02x}.pack")
}

/// Parses `<2 lowercase hex>.pack`; anything else is not a pack file.
pub(crate) fn parse_pack_file_name(name: &str) -> Option<u8> {
    let hex = name.strip_suffix(".pack")?;
    if hex.len() != 2
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

const PACK_MAGIC: [u8; 4] = *b"TEPK";
const PACK_VERSION: u16 = 1;
/// Size of the fixed header of a pack file.
pub(crate) const PACK_HEADER_LEN: usize = 24;

/// Encodes a pack file:
/// `magic "TEPK" | version u16 | bucket u16 | count u32 | body_len u64 | crc32 u32 | body`,
/// body = `count × (uid u64 | len u32 | data)` in increasing uid order. The
/// CRC-32 covers the first 20 header bytes and the body.
pub(crate) fn encode_pack(bucket: u8, entries: &BTreeMap<Uid, &[u8]>) -> Vec<u8> {
    let body_len: usize = entries.values().map(|d| 12 + d.len()).sum();
    let mut out = Vec::with_capacity(PACK_HEADER_LEN + body_len);
    out.extend_from_slice(&PACK_MAGIC);
    out.extend_from_slice(&PACK_VERSION.to_le_bytes());
    out.extend_from_slice(&u16::from(bucket).to_le_bytes());
    let count = u32::try_from(entries.len()).expect("more than 4G objects in a bucket");
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(body_len as u64).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    for (uid, data) in entries {
        out.extend_from_slice(&uid.to_le_bytes());
        let len = u32::try_from(data.len()).expect("blob larger than 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(data);
    }
    let mut h = crc32fast::Hasher::new();
    h.update(&out[..20]);
    h.update(&out[PACK_HEADER_LEN..]);
    let crc = h.finalize();
    out[20..24].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Verifies a pack file and returns its entries (borrowing `bytes`), in
/// increasing uid order.
pub(crate) fn decode_pack(bytes: &[u8], bucket: u8) -> Result<Vec<(Uid, &[u8])>, String> {
    if bytes.len() < PACK_HEADER_LEN {
        return Err(format!(
            "truncated: {} bytes, shorter than the {PACK_HEADER_LEN}-byte header",
            bytes.len()
        ));
    }
    let mut c = Cursor::new(&bytes[..PACK_HEADER_LEN]);
    let magic = c.array::<4>().unwrap_or_default();
    if magic != PACK_MAGIC {
        return Err(format!("bad magic {magic:02x?}, expected \"TEPK\""));
    }
    let version = c.u16().unwrap_or_default();
    if version != PACK_VERSION {
        return Err(format!("unsupported pack version {version}"));
    }
    let got_bucket = c.u16().unwrap_or_default();
    let count = c.u32().unwrap_or_default() as usize;
    let body_len = c.u64().unwrap_or_default();
    let crc = c.u32().unwrap_or_default();
    let body = &bytes[PACK_HEADER_LEN..];
    let actual = body.len() as u64;
    if actual != body_len {
        return Err(if actual < body_len {
            format!("truncated: header announces {body_len} body bytes, file holds {actual}")
        } else {
            format!(
                "{} trailing bytes after the {body_len} announced body bytes",
                actual - body_len
            )
        });
    }
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..20]);
    h.update(body);
    let want = h.finalize();
    if want != crc {
        return Err(format!(
            "checksum mismatch (stored {crc:08x}, computed {want:08x})"
        ));
    }
    if got_bucket != u16::from(bucket) {
        return Err(format!(
            "header says bucket {got_bucket:02x} but the file is bucket {bucket:02x}"
        ));
    }
    let mut c = Cursor::new(body);
    let bad = |what: &str| format!("inconsistent pack structure: {what}");
    let mut out = Vec::with_capacity(count.min(body.len() / 12));
    let mut prev: Option<Uid> = None;
    for _ in 0..count {
        let uid = c.u64().ok_or_else(|| bad("entry header cut short"))?;
        let len = c.u32().ok_or_else(|| bad("entry header cut short"))? as usize;
        let data = c.bytes(len).ok_or_else(|| bad("entry data cut short"))?;
        if bucket_of(uid) != bucket {
            return Err(bad(&format!("uid {uid:016x} does not belong here")));
        }
        if prev.is_some_and(|p| p >= uid) {
            return Err(bad("uids not strictly increasing"));
        }
        prev = Some(uid);
        out.push((uid, data));
    }
    if !c.is_empty() {
        return Err(bad("bytes left after the last entry"));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// generation
// ---------------------------------------------------------------------------

const GEN_MAGIC: [u8; 4] = *b"TEGN";
/// Size of the `generation` file.
pub(crate) const GEN_LEN: usize = 16;

/// `magic "TEGN" | generation u64 | crc32 u32` (CRC over the first 12 bytes).
pub(crate) fn encode_generation(generation: u64) -> [u8; GEN_LEN] {
    let mut out = [0u8; GEN_LEN];
    out[..4].copy_from_slice(&GEN_MAGIC);
    out[4..12].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32fast::hash(&out[..12]);
    out[12..].copy_from_slice(&crc.to_le_bytes());
    out
}

pub(crate) fn decode_generation(bytes: &[u8]) -> Result<u64, String> {
    if bytes.len() != GEN_LEN {
        return Err(format!(
            "generation file has {} bytes, expected {GEN_LEN}",
            bytes.len()
        ));
    }
    if bytes[..4] != GEN_MAGIC {
        return Err("bad magic in generation file".to_owned());
    }
    let stored = u32::from_le_bytes(bytes[12..16].try_into().unwrap_or_default());
    if crc32fast::hash(&bytes[..12]) != stored {
        return Err("checksum mismatch in generation file".to_owned());
    }
    Ok(u64::from_le_bytes(
        bytes[4..12].try_into().unwrap_or_default(),
    ))
}

// ---------------------------------------------------------------------------
// journal
// ---------------------------------------------------------------------------

/// One journalled operation. Superset of the public `Change` (adds `DeleteMeta`
/// for `wipe`).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Op {
    PutMeta(Vec<u8>),
    DeleteMeta,
    Put { uid: Uid, data: Vec<u8> },
    Delete { uid: Uid },
    DeleteAll,
}

const JOURNAL_MAGIC: [u8; 4] = *b"TEJN";
const JOURNAL_END: [u8; 4] = *b"NJET";
const JOURNAL_VERSION: u32 = 1;

const OP_PUT_META: u8 = 1;
const OP_DELETE_META: u8 = 2;
const OP_PUT: u8 = 3;
const OP_DELETE: u8 = 4;
const OP_DELETE_ALL: u8 = 5;

/// `magic "TEJN" | version u32 | new generation u64 | count u32 |
///  count × (op u8 | uid u64 | len u32 | data) | crc32 u32 | "NJET"`.
/// The CRC covers everything before it.
pub(crate) fn encode_journal(generation: u64, ops: &[Op]) -> Vec<u8> {
    let payload: usize = ops
        .iter()
        .map(|op| {
            13 + match op {
                Op::PutMeta(d) | Op::Put { data: d, .. } => d.len(),
                _ => 0,
            }
        })
        .sum();
    let mut out = Vec::with_capacity(28 + payload);
    out.extend_from_slice(&JOURNAL_MAGIC);
    out.extend_from_slice(&JOURNAL_VERSION.to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    let count = u32::try_from(ops.len()).expect("more than 4G changes in one commit");
    out.extend_from_slice(&count.to_le_bytes());
    for op in ops {
        let (code, uid, data): (u8, Uid, &[u8]) = match op {
            Op::PutMeta(d) => (OP_PUT_META, 0, d),
            Op::DeleteMeta => (OP_DELETE_META, 0, &[]),
            Op::Put { uid, data } => (OP_PUT, *uid, data),
            Op::Delete { uid } => (OP_DELETE, *uid, &[]),
            Op::DeleteAll => (OP_DELETE_ALL, 0, &[]),
        };
        out.push(code);
        out.extend_from_slice(&uid.to_le_bytes());
        let len = u32::try_from(data.len()).expect("blob larger than 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(data);
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&JOURNAL_END);
    out
}

/// Decodes a complete journal; any damage yields `Err(reason)`.
pub(crate) fn decode_journal(bytes: &[u8]) -> Result<(u64, Vec<Op>), String> {
    if bytes.len() < 28 {
        return Err(format!("journal truncated to {} bytes", bytes.len()));
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 8);
    if trailer[4..] != JOURNAL_END {
        return Err("journal end marker missing (incomplete write)".to_owned());
    }
    let stored = u32::from_le_bytes(trailer[..4].try_into().unwrap_or_default());
    if crc32fast::hash(body) != stored {
        return Err("journal checksum mismatch".to_owned());
    }
    let mut c = Cursor::new(body);
    let bad = || "journal structure is inconsistent".to_owned();
    if c.array::<4>().ok_or_else(bad)? != JOURNAL_MAGIC {
        return Err("bad journal magic".to_owned());
    }
    let version = c.u32().ok_or_else(bad)?;
    if version != JOURNAL_VERSION {
        return Err(format!("unsupported journal version {version}"));
    }
    let generation = c.u64().ok_or_else(bad)?;
    let count = c.u32().ok_or_else(bad)? as usize;
    let mut ops = Vec::with_capacity(count.min(body.len() / 13));
    for _ in 0..count {
        let code = c.u8().ok_or_else(bad)?;
        let uid = c.u64().ok_or_else(bad)?;
        let len = c.u32().ok_or_else(bad)? as usize;
        let data = c.bytes(len).ok_or_else(bad)?;
        ops.push(match code {
            OP_PUT_META => Op::PutMeta(data.to_vec()),
            OP_DELETE_META => Op::DeleteMeta,
            OP_PUT => Op::Put {
                uid,
                data: data.to_vec(),
            },
            OP_DELETE => Op::Delete { uid },
            OP_DELETE_ALL => Op::DeleteAll,
            other => return Err(format!("unknown journal op {other}")),
        });
    }
    if !c.is_empty() {
        return Err(bad());
    }
    Ok((generation, ops))
}

// ---------------------------------------------------------------------------
// history (change log used for incremental cache refresh; advisory only)
// ---------------------------------------------------------------------------

const HISTORY_MAGIC: [u8; 4] = *b"TEHS";
const HISTORY_VERSION: u32 = 1;
/// Size of the history header.
pub(crate) const HISTORY_HEADER_LEN: usize = 20;

/// Record flag: the commit deleted all objects (readers must reload fully).
pub(crate) const HIST_RESET: u8 = 1;
/// Record flag: the commit changed the meta blob.
pub(crate) const HIST_META: u8 = 2;

/// `magic "TEHS" | version u32 | base generation u64 | crc32 u32`: the file
/// describes every commit with a generation greater than `base`.
pub(crate) fn encode_history_header(base: u64) -> [u8; HISTORY_HEADER_LEN] {
    let mut out = [0u8; HISTORY_HEADER_LEN];
    out[..4].copy_from_slice(&HISTORY_MAGIC);
    out[4..8].copy_from_slice(&HISTORY_VERSION.to_le_bytes());
    out[8..16].copy_from_slice(&base.to_le_bytes());
    let crc = crc32fast::hash(&out[..16]);
    out[16..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Returns the base generation of a valid history header.
pub(crate) fn decode_history_header(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < HISTORY_HEADER_LEN || bytes[..4] != HISTORY_MAGIC {
        return None;
    }
    let version = u32::from_le_bytes(bytes[4..8].try_into().ok()?);
    let crc = u32::from_le_bytes(bytes[16..20].try_into().ok()?);
    if version != HISTORY_VERSION || crc32fast::hash(&bytes[..16]) != crc {
        return None;
    }
    Some(u64::from_le_bytes(bytes[8..16].try_into().ok()?))
}

/// `len u32 | crc32 u32 | payload`, payload = `generation u64 | flags u8 | n u32 | n × uid u64`.
pub(crate) fn encode_history_record(generation: u64, flags: u8, uids: &[Uid]) -> Vec<u8> {
    let n = u32::try_from(uids.len()).expect("too many uids");
    let mut payload = Vec::with_capacity(13 + 8 * uids.len());
    payload.extend_from_slice(&generation.to_le_bytes());
    payload.push(flags);
    payload.extend_from_slice(&n.to_le_bytes());
    for uid in uids {
        payload.extend_from_slice(&uid.to_le_bytes());
    }
    let mut out = Vec::with_capacity(8 + payload.len());
    let len = u32::try_from(payload.len()).expect("history record too large");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// One decoded history record.
pub(crate) struct HistoryRecord {
    pub(crate) generation: u64,
    pub(crate) flags: u8,
    pub(crate) uids: Vec<Uid>,
}

/// Decodes the records after the header, stopping silently at the first
/// damaged one (the history is advisory: missing records only force a full
/// reload).
pub(crate) fn decode_history_records(bytes: &[u8]) -> Vec<HistoryRecord> {
    let mut out = Vec::new();
    let mut c = Cursor::new(bytes);
    while !c.is_empty() {
        let Some(rec) = (|| {
            let len = c.u32()? as usize;
            let crc = c.u32()?;
            let payload = c.bytes(len)?;
            if crc32fast::hash(payload) != crc {
                return None;
            }
            let mut p = Cursor::new(payload);
            let generation = p.u64()?;
            let flags = p.u8()?;
            let n = p.u32()? as usize;
            if p.remaining() != n.checked_mul(8)? {
                return None;
            }
            let uids = (0..n).map(|_| p.u64()).collect::<Option<Vec<_>>>()?;
            Some(HistoryRecord {
                generation,
                flags,
                uids,
            })
        })() else {
            break;
        };
        out.push(rec);
    }
    out
}

// ---------------------------------------------------------------------------

/// Minimal bounds-checked reader.
struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cursor { b }
    }
    fn is_empty(&self) -> bool {
        self.b.is_empty()
    }
    fn remaining(&self) -> usize {
        self.b.len()
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Some(head)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_round_trip_and_damage() {
        let enc = encode_blob(BlobKind::Meta, 7, 3, b"hello");
        assert_eq!(decode_blob(&enc, BlobKind::Meta, 7).unwrap(), b"hello");
        assert!(decode_blob(&enc, BlobKind::Meta, 8).is_err());
        for cut in 0..enc.len() {
            assert!(decode_blob(&enc[..cut], BlobKind::Meta, 7).is_err());
        }
        for i in 0..enc.len() {
            let mut bad = enc.clone();
            bad[i] ^= 0x40;
            assert!(decode_blob(&bad, BlobKind::Meta, 7).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn pack_round_trip_and_damage() {
        let mut entries: BTreeMap<Uid, &[u8]> = BTreeMap::new();
        entries.insert(0x105, b"one");
        entries.insert(0x205, b"");
        entries.insert(0xff05, b"three");
        let enc = encode_pack(5, &entries);
        let dec = decode_pack(&enc, 5).unwrap();
        assert_eq!(
            dec,
            entries.iter().map(|(&u, &d)| (u, d)).collect::<Vec<_>>()
        );
        assert!(decode_pack(&enc, 6).is_err());
        for cut in 0..enc.len() {
            assert!(decode_pack(&enc[..cut], 5).is_err());
        }
        for i in 0..enc.len() {
            let mut bad = enc.clone();
            bad[i] ^= 0x08;
            assert!(decode_pack(&bad, 5).is_err(), "flip at {i}");
        }
        let empty = encode_pack(9, &BTreeMap::new());
        assert!(decode_pack(&empty, 9).unwrap().is_empty());
    }

    #[test]
    fn journal_round_trip_and_damage() {
        let ops = vec![
            Op::PutMeta(b"m".to_vec()),
            Op::Put {
                uid: 5,
                data: vec![1, 2, 3],
            },
            Op::Delete { uid: 9 },
            Op::DeleteAll,
            Op::DeleteMeta,
        ];
        let enc = encode_journal(42, &ops);
        let (g, dec) = decode_journal(&enc).unwrap();
        assert_eq!(g, 42);
        assert!(dec == ops);
        for cut in 0..enc.len() {
            assert!(decode_journal(&enc[..cut]).is_err());
        }
        for i in 0..enc.len() {
            let mut bad = enc.clone();
            bad[i] ^= 1;
            assert!(decode_journal(&bad).is_err());
        }
    }

    #[test]
    fn history_and_generation() {
        assert_eq!(decode_generation(&encode_generation(99)).unwrap(), 99);
        assert!(decode_generation(&encode_generation(99)[..15]).is_err());
        assert_eq!(decode_history_header(&encode_history_header(5)), Some(5));
        let mut recs = encode_history_record(6, HIST_META, &[1, 2]);
        recs.extend(encode_history_record(7, 0, &[3]));
        let full = decode_history_records(&recs);
        assert_eq!(full.len(), 2);
        assert_eq!(full[1].uids, vec![3]);
        let torn = decode_history_records(&recs[..recs.len() - 1]);
        assert_eq!(torn.len(), 1);
    }

    #[test]
    fn names_and_marker() {
        assert_eq!(pack_file_name(bucket_of(0x12ab)), "ab.pack");
        assert_eq!(parse_pack_file_name("ab.pack"), Some(0xab));
        assert_eq!(parse_pack_file_name("AB.pack"), None);
        assert_eq!(parse_pack_file_name("ab.pack.tmp"), None);
        assert_eq!(parse_pack_file_name("abc.pack"), None);
        assert!(check_marker(&marker_contents()).is_ok());
        assert!(check_marker(b"tokenemu-store\nformat 2\n").is_err());
        assert!(check_marker(b"softhsm").is_err());
        assert!(check_marker(&[0xff, 0xfe]).is_err());
    }
}
