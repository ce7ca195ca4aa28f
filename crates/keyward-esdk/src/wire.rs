//! Big-endian readers for untrusted bytes: a cursor over a slice, and a reader that takes
//! exact lengths from a stream while keeping every byte it took (the header is both parsed
//! and authenticated), under a size limit.

use std::io::Read;

use crate::error::{Error, Result};

pub(crate) struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(Error::Malformed("a length runs past its field"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn prefixed16(&mut self) -> Result<&'a [u8]> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// Reads exact lengths from a stream and records them.
pub(crate) struct RecordingReader<'r, R> {
    inner: &'r mut R,
    recorded: Vec<u8>,
    limit: usize,
}

impl<'r, R: Read> RecordingReader<'r, R> {
    pub(crate) fn new(inner: &'r mut R, limit: usize) -> Self {
        Self {
            inner,
            recorded: Vec::with_capacity(256),
            limit,
        }
    }

    /// The next `n` bytes (a slice of the record).
    pub(crate) fn take(&mut self, n: usize) -> Result<&[u8]> {
        let start = self.recorded.len();
        let end = start
            .checked_add(n)
            .filter(|end| *end <= self.limit)
            .ok_or(Error::HeaderTooLarge(self.limit))?;
        self.recorded.resize(end, 0);
        read_exact(self.inner, &mut self.recorded[start..end])?;
        Ok(&self.recorded[start..end])
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn prefixed16(&mut self) -> Result<Vec<u8>> {
        let len = self.u16()?;
        Ok(self.take(usize::from(len))?.to_vec())
    }

    pub(crate) fn recorded_len(&self) -> usize {
        self.recorded.len()
    }

    pub(crate) fn into_recorded(self) -> Vec<u8> {
        self.recorded
    }
}

/// `read_exact`, with end of input as `Truncated`.
pub(crate) fn read_exact<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> Result<()> {
    reader.read_exact(buf).map_err(Error::from_io)
}

/// Reads exactly `n` bytes into `buf` (replacing its contents). Small lengths are read in
/// place; large ones grow the buffer as bytes arrive, so a header that announces a huge
/// frame costs memory only for bytes really present.
pub(crate) fn read_exactly_into<R: Read + ?Sized>(
    reader: &mut R,
    n: usize,
    buf: &mut Vec<u8>,
) -> Result<()> {
    const IN_PLACE: usize = 1 << 20;
    buf.clear();
    if n <= IN_PLACE {
        buf.resize(n, 0);
        return read_exact(reader, buf);
    }
    let wanted = u64::try_from(n).map_err(|_| Error::Crypto)?;
    let got = reader
        .take(wanted)
        .read_to_end(buf)
        .map_err(Error::from_io)?;
    if got != n {
        return Err(Error::Truncated);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_reader_limits_and_records() {
        let data = [1u8, 2, 3, 4, 5, 6];
        let mut src = &data[..];
        let mut reader = RecordingReader::new(&mut src, 5);
        assert_eq!(reader.u16().unwrap(), 0x0102);
        assert_eq!(reader.u8().unwrap(), 3);
        assert!(matches!(reader.take(3), Err(Error::HeaderTooLarge(5))));
        let mut short = &data[..2];
        let mut reader = RecordingReader::new(&mut short, 100);
        assert!(matches!(reader.u32(), Err(Error::Truncated)));
    }

    #[test]
    fn read_exactly_into_large_and_short() {
        let data = vec![7u8; (1 << 20) + 10];
        let mut buf = Vec::new();
        read_exactly_into(&mut &data[..], data.len(), &mut buf).unwrap();
        assert_eq!(buf, data);
        assert!(matches!(
            read_exactly_into(&mut &data[..], data.len() + 1, &mut buf),
            Err(Error::Truncated)
        ));
    }
}
