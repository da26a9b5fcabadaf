//! Blob storage for uploaded files (product images, show covers, later recordings), behind a
//! trait so object storage can replace the local directory without touching callers.

use std::path::PathBuf;

/// Where uploaded bytes live. Keys are made by Vetrina (`images/<random>.jpg`), never by users.
pub trait Blobs: Send + Sync + std::fmt::Debug {
    fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()>;
    fn get(&self, key: &str) -> std::io::Result<Option<Vec<u8>>>;
    fn delete(&self, key: &str) -> std::io::Result<()>;
}

/// Blobs as files under a directory (`<data dir>/blobs`).
#[derive(Debug)]
pub struct DirBlobs {
    root: PathBuf,
}

impl DirBlobs {
    pub fn new(root: PathBuf) -> std::io::Result<DirBlobs> {
        std::fs::create_dir_all(&root)?;
        Ok(DirBlobs { root })
    }

    fn path(&self, key: &str) -> std::io::Result<PathBuf> {
        let safe = !key.is_empty()
            && key.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
        if !safe {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad blob key {key:?}")));
        }
        Ok(self.root.join(key))
    }
}

impl Blobs for DirBlobs {
    fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Write then rename, so a crash never leaves half an image under its final name.
        let tmp = path.with_extension("part");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)
    }

    fn get(&self, key: &str) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(key)?) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, key: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(key)?) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_root() {
        let dir = std::env::temp_dir().join(format!("vetrina-blobs-{}", crate::random_token(6)));
        let blobs = DirBlobs::new(dir.clone()).unwrap();
        blobs.put("images/a.png", b"png").unwrap();
        assert_eq!(blobs.get("images/a.png").unwrap().as_deref(), Some(&b"png"[..]));
        assert!(blobs.put("../escape", b"x").is_err());
        assert!(blobs.get("/etc/passwd").is_err());
        blobs.delete("images/a.png").unwrap();
        assert_eq!(blobs.get("images/a.png").unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
