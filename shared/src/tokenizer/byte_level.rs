//! GPT-2's byte ↔ character table (book ch. 2; `bytes_to_unicode` in OpenAI's GPT-2 `encoder.py`).
//!
//! Byte-level BPE works on bytes, but vocabularies are stored as text. GPT-2 maps each
//! of the 256 byte values to a printable character: the printable Latin-1 bytes
//! (`!`..`~`, `¡`..`¬`, `®`..`ÿ`) stand for themselves, and the other 68 bytes (control
//! characters, space, …) are shifted to U+0100 and up, in byte order. A space (0x20)
//! becomes `Ġ` (U+0120) and a newline (0x0A) `Ċ` (U+010A).

/// The character that stands for `byte` in a byte-level vocabulary.
pub fn byte_to_char(byte: u8) -> char {
    BYTE_TO_CHAR[usize::from(byte)]
}

/// The byte a vocabulary character stands for, or `None` for a character outside the table.
pub fn char_to_byte(c: char) -> Option<u8> {
    let byte = *CHAR_TO_BYTE.get(u32::from(c) as usize)?;
    u8::try_from(byte).ok()
}

/// The bytes behind one vocabulary entry: each table character becomes its byte; a
/// character outside the table (never in a well-formed vocabulary) keeps its UTF-8 bytes,
/// as Hugging Face's ByteLevel decoder does.
pub fn token_to_bytes(token: &str, out: &mut Vec<u8>) {
    let mut utf8 = [0u8; 4];
    for c in token.chars() {
        match char_to_byte(c) {
            Some(byte) => out.push(byte),
            None => out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes()),
        }
    }
}

/// The 188 printable bytes map to themselves; the other 68 map to U+0100.. in order, so
/// the table's characters end before U+0144.
const TABLE_END: usize = 0x144;

/// Byte → character.
const BYTE_TO_CHAR: [char; 256] = byte_to_char_table();

/// Character code → byte, or -1 where the code is not in the table.
const CHAR_TO_BYTE: [i16; TABLE_END] = char_to_byte_table();

/// Whether GPT-2 keeps this byte as its own Latin-1 character.
const fn is_printable(byte: u8) -> bool {
    matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// Builds [`BYTE_TO_CHAR`]: printable bytes stay, the others take U+0100, U+0101, … in byte order.
const fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut shifted = 0u32;
    let mut byte = 0usize;
    while byte < 256 {
        let code = if is_printable(byte as u8) {
            byte as u32
        } else {
            shifted += 1;
            0xFF + shifted
        };
        table[byte] = match char::from_u32(code) {
            Some(c) => c,
            None => panic!("U+0000..U+0143 are characters"),
        };
        byte += 1;
    }
    table
}

/// Builds [`CHAR_TO_BYTE`], the inverse of [`BYTE_TO_CHAR`].
const fn char_to_byte_table() -> [i16; TABLE_END] {
    let forward = byte_to_char_table();
    let mut table = [-1i16; TABLE_END];
    let mut byte = 0usize;
    while byte < 256 {
        table[forward[byte] as usize] = byte as i16;
        byte += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_characters() {
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'a'), 'a');
        assert_eq!(byte_to_char(0), '\u{100}');
        assert_eq!(byte_to_char(0xAD), '\u{143}');
    }

    #[test]
    fn round_trip_is_a_bijection() {
        let mut seen = std::collections::HashSet::new();
        for byte in 0..=255u8 {
            let c = byte_to_char(byte);
            assert!(seen.insert(c), "{c:?} used twice");
            assert_eq!(char_to_byte(c), Some(byte));
        }
        assert_eq!(char_to_byte('\u{144}'), None);
        assert_eq!(char_to_byte(' '), None);
    }
}
