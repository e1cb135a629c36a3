//! Files a dry run has checked, kept in memory until the person who uploaded them applies them
//! (so the file is not uploaded twice). Bounded: at most `MAX_FILES` files and `MAX_BYTES` in
//! all, each for at most `KEEP`; the oldest go first. A restart forgets them (upload again).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_FILES: usize = 16;
const MAX_BYTES: usize = 64 * 1024 * 1024;
const KEEP: Duration = Duration::from_secs(3600);

/// One checked file.
#[derive(Debug, Clone)]
pub struct PendingFile {
    pub id: String,
    /// Who uploaded it: only they may apply it.
    pub principal: String,
    pub profile: String,
    pub file_name: Option<String>,
    pub bytes: Vec<u8>,
    at: Instant,
}

#[derive(Debug, Default)]
pub struct Pending {
    files: Mutex<VecDeque<PendingFile>>,
}

impl Pending {
    /// Keeps a file; returns its id. A file larger than all of the room is not kept.
    pub fn keep(
        &self,
        principal: &str,
        profile: &str,
        file_name: Option<String>,
        bytes: Vec<u8>,
    ) -> Option<String> {
        if bytes.len() > MAX_BYTES {
            return None;
        }
        let id = super::session::random_token();
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        files.retain(|f| f.at.elapsed() < KEEP);
        let mut total: usize = files.iter().map(|f| f.bytes.len()).sum();
        while files.len() >= MAX_FILES || total + bytes.len() > MAX_BYTES {
            match files.pop_front() {
                Some(f) => total -= f.bytes.len(),
                None => break,
            }
        }
        files.push_back(PendingFile {
            id: id.clone(),
            principal: principal.to_string(),
            profile: profile.to_string(),
            file_name,
            bytes,
            at: Instant::now(),
        });
        Some(id)
    }

    /// Takes the file `id` if `principal` uploaded it and it has not expired.
    pub fn take(&self, id: &str, principal: &str) -> Option<PendingFile> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        files.retain(|f| f.at.elapsed() < KEEP);
        let at = files
            .iter()
            .position(|f| f.id == id && f.principal == principal)?;
        files.remove(at)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_the_uploader_takes_a_file_and_only_once() {
        let p = Pending::default();
        let id = p.keep("token:a", "hr", None, b"x".to_vec()).unwrap();
        assert!(p.take(&id, "token:b").is_none());
        assert_eq!(p.take(&id, "token:a").unwrap().bytes, b"x");
        assert!(p.take(&id, "token:a").is_none());
    }

    #[test]
    fn the_oldest_files_make_room() {
        let p = Pending::default();
        let first = p.keep("a", "hr", None, vec![0; 10]).unwrap();
        for _ in 0..MAX_FILES {
            p.keep("a", "hr", None, vec![0; 10]).unwrap();
        }
        assert!(p.take(&first, "a").is_none());
        assert!(p.keep("a", "hr", None, vec![0; MAX_BYTES + 1]).is_none());
    }
}
