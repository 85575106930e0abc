//! The DNS wire format (RFC 1035 section 4), as far as the embedded server
//! needs it: a query's header, its one question and its EDNS payload size
//! (RFC 6891) are read; answers of type A, AAAA and PTR are written with
//! the question's name as a compression pointer; a forwarded reply is read
//! only for its header (rcode, AA, TC), its bytes are relayed unchanged.
//!
//! No crate does this here: none in Cargo.lock, and the few record types
//! are smaller than a dependency.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Record types and class the server knows.
pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_MX: u16 = 15;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const TYPE_OPT: u16 = 41;
pub const CLASS_IN: u16 = 1;

/// Response codes (RFC 1035 4.1.1).
pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_REFUSED: u8 = 5;

/// Header flag bits (second 16-bit word).
const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;
const FLAG_CD: u16 = 0x0010;
const OPCODE_MASK: u16 = 0x7800;

/// The TTL of every local answer: docker's `respTTL`.
pub const ANSWER_TTL: u32 = 600;

/// Why a message could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("dns message shorter than its header ({0} bytes)")]
    Short(usize),
    #[error("dns message ends inside {0}")]
    Truncated(&'static str),
    #[error("dns message has {0} questions, want 1")]
    QuestionCount(u16),
    #[error("dns name: {0}")]
    BadName(&'static str),
}

/// A query's one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Dotted, without the final dot, as the client spelled it.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

/// What the server reads of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    flags: u16,
    pub question: Question,
    /// The question's bytes (name, type, class), echoed in the reply.
    question_bytes: Vec<u8>,
    /// EDNS0 UDP payload size, when the query has an OPT record.
    pub udp_size: Option<u16>,
}

/// The header of a reply from an upstream server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader {
    pub id: u16,
    pub rcode: u8,
    pub authoritative: bool,
    pub truncated: bool,
}

/// One answer of a local reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// A domain name, dotted, without the final dot.
    Ptr(String),
}

fn u16_at(buf: &[u8], at: usize, what: &'static str) -> Result<u16, WireError> {
    buf.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(WireError::Truncated(what))
}

/// Reads the name at `at`; answers it and the offset after it (after the
/// first pointer, if the name is compressed).
fn read_name(buf: &[u8], mut at: usize) -> Result<(String, usize), WireError> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *buf.get(at).ok_or(WireError::Truncated("a name"))? as usize;
        match len & 0xC0 {
            0x00 if len == 0 => {
                return Ok((name, end.unwrap_or(at + 1)));
            }
            0x00 => {
                let label = buf
                    .get(at + 1..at + 1 + len)
                    .ok_or(WireError::Truncated("a label"))?;
                if !name.is_empty() {
                    name.push('.');
                }
                // Labels are bytes; anything not printable ASCII is kept
                // as an escape so it never matches a container's name.
                for &b in label {
                    if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                        name.push(b as char);
                    } else {
                        name.push_str(&format!("\\{b:03}"));
                    }
                }
                if name.len() > 1024 {
                    return Err(WireError::BadName("longer than 255 bytes"));
                }
                at += 1 + len;
            }
            0xC0 => {
                let low = *buf.get(at + 1).ok_or(WireError::Truncated("a pointer"))? as usize;
                if end.is_none() {
                    end = Some(at + 2);
                }
                jumps += 1;
                if jumps > 64 {
                    return Err(WireError::BadName("compression loop"));
                }
                at = ((len & 0x3F) << 8) | low;
            }
            _ => return Err(WireError::BadName("reserved label type")),
        }
    }
}

/// Writes `name` (dotted, no final dot) as labels.
fn write_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out.push(0);
}

/// Reads a query: header, one question, and EDNS's UDP size from an OPT
/// record among the additional records.
pub fn parse_query(buf: &[u8]) -> Result<Query, WireError> {
    if buf.len() < 12 {
        return Err(WireError::Short(buf.len()));
    }
    let id = u16_at(buf, 0, "the header")?;
    let flags = u16_at(buf, 2, "the header")?;
    let qdcount = u16_at(buf, 4, "the header")?;
    let ancount = u16_at(buf, 6, "the header")?;
    let nscount = u16_at(buf, 8, "the header")?;
    let arcount = u16_at(buf, 10, "the header")?;
    if qdcount != 1 {
        return Err(WireError::QuestionCount(qdcount));
    }
    let (name, at) = read_name(buf, 12)?;
    let qtype = u16_at(buf, at, "the question")?;
    let qclass = u16_at(buf, at + 2, "the question")?;
    let question_bytes = buf[12..at + 4].to_vec();
    let mut at = at + 4;
    let mut udp_size = None;
    for i in 0..(ancount as usize + nscount as usize + arcount as usize) {
        let (_, after) = read_name(buf, at)?;
        let rtype = u16_at(buf, after, "a record")?;
        let class = u16_at(buf, after + 2, "a record")?;
        let rdlength = u16_at(buf, after + 8, "a record")? as usize;
        if rtype == TYPE_OPT && i >= ancount as usize + nscount as usize {
            udp_size = Some(class);
        }
        at = after + 10 + rdlength;
        if at > buf.len() {
            return Err(WireError::Truncated("a record"));
        }
    }
    Ok(Query {
        id,
        flags,
        question: Question {
            name,
            qtype,
            qclass,
        },
        question_bytes,
        udp_size,
    })
}

/// Reads the header of an upstream's reply.
pub fn parse_reply_header(buf: &[u8]) -> Result<ReplyHeader, WireError> {
    if buf.len() < 12 {
        return Err(WireError::Short(buf.len()));
    }
    let flags = u16_at(buf, 2, "the header")?;
    Ok(ReplyHeader {
        id: u16_at(buf, 0, "the header")?,
        rcode: (flags & 0x000F) as u8,
        authoritative: flags & FLAG_AA != 0,
        truncated: flags & FLAG_TC != 0,
    })
}

/// The header words of a reply to `q`: as miekg/dns `SetReply` (id,
/// opcode, RD and CD copied, QR set) plus RA, as docker's resolver sets.
fn reply_flags(q: &Query, rcode: u8, truncated: bool, recursion_available: bool) -> u16 {
    let mut flags = FLAG_QR | (q.flags & (OPCODE_MASK | FLAG_RD | FLAG_CD)) | rcode as u16;
    if recursion_available {
        flags |= FLAG_RA;
    }
    if truncated {
        flags |= FLAG_TC;
    }
    flags
}

fn encode(q: &Query, flags: u16, answers: &[Answer]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + answers.len() * 16);
    out.extend_from_slice(&q.id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&q.question_bytes);
    for answer in answers {
        // The owner is the question's name: a pointer to offset 12.
        out.extend_from_slice(&[0xC0, 12]);
        let (rtype, rdata) = match answer {
            Answer::A(a) => (TYPE_A, a.octets().to_vec()),
            Answer::Aaaa(a) => (TYPE_AAAA, a.octets().to_vec()),
            Answer::Ptr(name) => {
                let mut d = Vec::new();
                write_name(&mut d, name);
                (TYPE_PTR, d)
            }
        };
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ANSWER_TTL.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    out
}

/// A local reply to `q` with `answers`, at most `max_size` bytes: answers
/// are dropped from the end until it fits and, over UDP (`tcp` false), TC
/// is set then (docker's `truncateResp`).
pub fn local_reply(q: &Query, answers: &[Answer], max_size: usize, tcp: bool) -> Vec<u8> {
    let mut kept: Vec<Answer> = answers.to_vec();
    let mut truncated = false;
    loop {
        let flags = reply_flags(q, RCODE_NOERROR, truncated, true);
        let out = encode(q, flags, &kept);
        if out.len() <= max_size || kept.is_empty() {
            return out;
        }
        truncated = !tcp;
        kept.pop();
    }
}

/// An error reply (no answers) with `rcode`, as miekg/dns `SetRcode`: no RA.
pub fn error_reply(q: &Query, rcode: u8) -> Vec<u8> {
    encode(q, reply_flags(q, rcode, false, false), &[])
}

/// A FORMERR reply to a message whose question could not be read: the
/// header's id only (RFC 1035 4.1.1).
pub fn format_error(buf: &[u8]) -> Option<Vec<u8>> {
    if buf.len() < 12 {
        return None;
    }
    let flags = u16::from_be_bytes([buf[2], buf[3]]);
    if flags & FLAG_QR != 0 {
        return None; // never answer a reply
    }
    let mut out = vec![0u8; 12];
    out[..2].copy_from_slice(&buf[..2]);
    let f = FLAG_QR | (flags & (OPCODE_MASK | FLAG_RD)) | RCODE_FORMERR as u16;
    out[2..4].copy_from_slice(&f.to_be_bytes());
    Some(out)
}

/// Builds a query (the tests' client, and nothing else in berthd).
pub fn build_query(id: u16, name: &str, qtype: u16, udp_size: Option<u16>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&FLAG_RD.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&(udp_size.is_some() as u16).to_be_bytes());
    write_name(&mut out, name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    if let Some(size) = udp_size {
        out.push(0);
        out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
    }
    out
}

/// The answers of a reply, as (type, rdata): for tests.
pub fn reply_answers(buf: &[u8]) -> Result<Vec<(u16, Vec<u8>)>, WireError> {
    let ancount = u16_at(buf, 6, "the header")?;
    let (_, at) = read_name(buf, 12)?;
    let mut at = at + 4;
    let mut out = Vec::new();
    for _ in 0..ancount {
        let (_, after) = read_name(buf, at)?;
        let rtype = u16_at(buf, after, "a record")?;
        let rdlength = u16_at(buf, after + 8, "a record")? as usize;
        let rdata = buf
            .get(after + 10..after + 10 + rdlength)
            .ok_or(WireError::Truncated("a record"))?;
        out.push((rtype, rdata.to_vec()));
        at = after + 10 + rdlength;
    }
    Ok(out)
}

/// Reads a name at `at` of `buf` (PTR rdata in tests).
pub fn name_at(buf: &[u8], at: usize) -> Result<String, WireError> {
    read_name(buf, at).map(|(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_round_trips_into_a_reply() {
        let q = build_query(0x1234, "Web.example", TYPE_A, Some(1232));
        let query = parse_query(&q).unwrap();
        assert_eq!(query.id, 0x1234);
        assert_eq!(query.question.name, "Web.example");
        assert_eq!(query.question.qtype, TYPE_A);
        assert_eq!(query.udp_size, Some(1232));
        let reply = local_reply(
            &query,
            &[Answer::A("172.20.0.2".parse().unwrap())],
            512,
            false,
        );
        let h = parse_reply_header(&reply).unwrap();
        assert_eq!((h.id, h.rcode, h.truncated), (0x1234, 0, false));
        // QR, RD copied, RA set.
        assert_eq!(u16::from_be_bytes([reply[2], reply[3]]), 0x8180);
        assert_eq!(
            reply_answers(&reply).unwrap(),
            [(TYPE_A, vec![172, 20, 0, 2])]
        );
        // TTL 600 right after type and class of the first answer.
        let at = 12 + query.question_bytes.len() + 2 + 4;
        assert_eq!(&reply[at..at + 4], &600u32.to_be_bytes());
    }

    #[test]
    fn ptr_and_aaaa_answers_encode() {
        let query =
            parse_query(&build_query(7, "2.0.20.172.in-addr.arpa", TYPE_PTR, None)).unwrap();
        let reply = local_reply(&query, &[Answer::Ptr("db.net1".into())], 512, false);
        let answers = reply_answers(&reply).unwrap();
        assert_eq!(answers[0].0, TYPE_PTR);
        assert_eq!(name_at(&answers[0].1, 0).unwrap(), "db.net1");
        let query = parse_query(&build_query(8, "x", TYPE_AAAA, None)).unwrap();
        let reply = local_reply(
            &query,
            &[Answer::Aaaa("fd00::1".parse().unwrap())],
            512,
            true,
        );
        assert_eq!(reply_answers(&reply).unwrap()[0].1.len(), 16);
    }

    #[test]
    fn oversized_udp_replies_are_cut_and_flagged() {
        let query = parse_query(&build_query(9, "many", TYPE_A, None)).unwrap();
        let many: Vec<Answer> = (0..100u8)
            .map(|i| Answer::A(Ipv4Addr::new(10, 0, 0, i)))
            .collect();
        let udp = local_reply(&query, &many, 512, false);
        assert!(udp.len() <= 512);
        assert!(parse_reply_header(&udp).unwrap().truncated);
        let tcp = local_reply(&query, &many, 65535, true);
        assert_eq!(reply_answers(&tcp).unwrap().len(), 100);
        assert!(!parse_reply_header(&tcp).unwrap().truncated);
    }

    #[test]
    fn compressed_names_and_bad_messages() {
        // A question whose name is a pointer back into itself is a loop.
        let mut q = build_query(1, "a", TYPE_A, None);
        q.truncate(12);
        q.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        assert_eq!(parse_query(&q), Err(WireError::BadName("compression loop")));
        assert_eq!(parse_query(&[0; 5]), Err(WireError::Short(5)));
        let mut two = build_query(1, "a", TYPE_A, None);
        two[5] = 2;
        assert_eq!(parse_query(&two), Err(WireError::QuestionCount(2)));
        let cut = &build_query(1, "abc", TYPE_A, None)[..14];
        assert!(matches!(parse_query(cut), Err(WireError::Truncated(_))));
        let formerr = format_error(&two).unwrap();
        assert_eq!(parse_reply_header(&formerr).unwrap().rcode, RCODE_FORMERR);
        let err = error_reply(
            &parse_query(&build_query(3, "a", TYPE_A, None)).unwrap(),
            RCODE_SERVFAIL,
        );
        assert_eq!(parse_reply_header(&err).unwrap().rcode, RCODE_SERVFAIL);
    }
}
