//! Atomic file creation: write to a temporary file beside the target, then
//! rename it into place. A reader never sees a half-written file, and a
//! failed or interrupted write leaves the previous file (if any) untouched.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::foundation::error::{CpiqError, Result};

/// Every temporary path this process is writing, so an interrupt can remove
/// them after the writers have been stopped ([`remove_temporaries`]): a
/// cancelled writer may still be running on another thread when the value
/// that owns the temporary is dropped.
static TEMPORARIES: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn track(temp: &Path) {
    if let Ok(mut t) = TEMPORARIES.lock() {
        t.push(temp.to_path_buf());
    }
}

fn untrack(temp: &Path) {
    if let Ok(mut t) = TEMPORARIES.lock() {
        t.retain(|p| p != temp);
    }
}

/// Remove every temporary file or directory still being written. Called on
/// SIGINT / SIGTERM once the work is stopped; targets are never touched.
pub fn remove_temporaries() {
    let temps = match TEMPORARIES.lock() {
        Ok(mut t) => std::mem::take(&mut *t),
        Err(_) => return,
    };
    for temp in temps {
        remove_path(&temp);
    }
}

/// Remove a temporary file or directory, and the staging files object_store
/// writes beside a file before renaming them onto it (`NAME#1`, `NAME#2`, …),
/// which an interrupted DataFusion writer leaves behind.
fn remove_path(p: &Path) {
    let _ = if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    };
    let (Some(dir), Some(name)) = (p.parent(), p.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let staging = format!("{}#", name.to_string_lossy());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&staging) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// A file being written that appears at its final path only on
/// [`AtomicFile::commit`]. Dropping it without committing removes the
/// temporary file.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Start writing `target`. Its directory must exist.
    pub fn create(target: &Path) -> Result<AtomicFile> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(CpiqError::io(
                target,
                io::Error::new(io::ErrorKind::NotFound, "the directory does not exist"),
            ));
        }
        let name = target
            .file_name()
            .ok_or_else(|| CpiqError::Usage(format!("{} is not a file name", target.display())))?
            .to_string_lossy();
        remove_stale_temps(&dir, &name);
        let temp = dir.join(format!(".{name}.cpiq-tmp-{}", std::process::id()));
        let file = File::create(&temp).map_err(|e| CpiqError::io(&temp, e))?;
        track(&temp);
        Ok(AtomicFile {
            target: target.to_path_buf(),
            temp,
            file: Some(file),
        })
    }

    /// Flush to disk and move the file into place. Returns its size in bytes.
    pub fn commit(mut self) -> Result<u64> {
        let Some(file) = self.file.take() else {
            return Err(CpiqError::Usage(format!(
                "internal: {} committed twice",
                self.target.display()
            )));
        };
        file.sync_all().map_err(|e| CpiqError::io(&self.temp, e))?;
        let size = file
            .metadata()
            .map_err(|e| CpiqError::io(&self.temp, e))?
            .len();
        drop(file);
        let renamed =
            std::fs::rename(&self.temp, &self.target).map_err(|e| CpiqError::io(&self.target, e));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&self.temp);
        }
        untrack(&self.temp);
        renamed.map(|()| size)
    }
}

/// A target written by another writer (DataFusion's `COPY` or
/// `write_parquet`) into a temporary sibling, then published in one step:
/// a file is renamed into place, a directory exchanged whole
/// ([`publish_dir`]). Dropping it unpublished removes the temporary.
#[derive(Debug)]
pub struct Staged {
    temp: PathBuf,
    target: PathBuf,
    is_dir: bool,
    published: bool,
}

impl Staged {
    /// Stage `target`, a directory when `is_dir`; leftovers of an earlier
    /// run of this process are removed.
    pub fn new(target: &Path, is_dir: bool) -> Result<Staged> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .ok_or_else(|| {
                CpiqError::Usage(format!(
                    "{} is not a file or directory name",
                    target.display()
                ))
            })?
            .to_string_lossy();
        let staged = Staged {
            temp: dir.join(format!(".cpiq-tmp-{}-{name}", std::process::id())),
            target: target.to_path_buf(),
            is_dir,
            published: false,
        };
        staged.remove_temp();
        track(&staged.temp);
        if is_dir {
            std::fs::create_dir_all(&staged.temp).map_err(|e| CpiqError::io(&staged.temp, e))?;
        }
        Ok(staged)
    }

    /// Where the writer should write: the temporary file, or the temporary
    /// directory with a trailing `/`.
    pub fn location(&self) -> String {
        if self.is_dir {
            format!("{}/", self.temp.display())
        } else {
            self.temp.display().to_string()
        }
    }

    /// Flush every written file to disk, publish, and return the size in bytes.
    pub fn publish(mut self) -> Result<u64> {
        let files = if self.is_dir {
            walk(&self.temp)
        } else {
            vec![self.temp.clone()]
        };
        for f in &files {
            File::open(f)
                .and_then(|h| h.sync_all())
                .map_err(|e| CpiqError::io(f, e))?;
        }
        if self.is_dir {
            publish_dir(&self.temp, &self.target)?;
        } else {
            std::fs::rename(&self.temp, &self.target)
                .map_err(|e| CpiqError::io(&self.target, e))?;
        }
        self.published = true;
        let published = if self.is_dir {
            walk(&self.target)
        } else {
            vec![self.target.clone()]
        };
        Ok(published
            .iter()
            .filter_map(|p| p.metadata().ok())
            .map(|m| m.len())
            .sum())
    }

    fn remove_temp(&self) {
        remove_path(&self.temp);
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.published {
            self.remove_temp();
        }
        untrack(&self.temp);
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Publish the finished directory `temp` as `target` in one step: renamed
/// into place when `target` is new, else atomically exchanged with the old
/// directory (Linux `renameat2(RENAME_EXCHANGE)`), which is then removed.
/// The path names the whole old set until the exchange and the whole new set
/// from it; a reader walking the subfolders at that instant can list part of
/// each (a tree walk is not atomic).
pub fn publish_dir(temp: &Path, target: &Path) -> Result<()> {
    if !target.exists() {
        return std::fs::rename(temp, target).map_err(|e| CpiqError::io(target, e));
    }
    let exchanged = rustix::fs::renameat_with(
        rustix::fs::CWD,
        temp,
        rustix::fs::CWD,
        target,
        rustix::fs::RenameFlags::EXCHANGE,
    );
    match exchanged {
        Ok(()) => {
            // `temp` now holds the old set.
            let _ = std::fs::remove_dir_all(temp);
            Ok(())
        }
        Err(_) => {
            // No exchange on this file system: move the old set aside first.
            let old = temp.with_extension("old");
            std::fs::rename(target, &old).map_err(|e| CpiqError::io(target, e))?;
            std::fs::rename(temp, target).map_err(|e| CpiqError::io(target, e))?;
            let _ = std::fs::remove_dir_all(&old);
            Ok(())
        }
    }
}

/// Remove temporary files of `name` left by cpiq processes that no longer
/// exist (killed mid-write). Never touches the target itself.
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.cpiq-tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = file
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok())
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

impl AtomicFile {
    fn open(&mut self) -> io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("write after commit"))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.open()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.open()?.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
            untrack(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_appears_only_on_commit() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("out.csv");
        std::fs::write(&target, "old").unwrap();
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(f.commit().unwrap(), 3);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn object_store_staging_files_go_with_their_temporary() {
        let d = tempfile::tempdir().unwrap();
        let temp = d.path().join(".cpiq-tmp-1-out.parquet");
        std::fs::write(&temp, "x").unwrap();
        std::fs::write(d.path().join(".cpiq-tmp-1-out.parquet#1"), "partial").unwrap();
        std::fs::write(d.path().join("out.parquet"), "kept").unwrap();
        remove_path(&temp);
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["out.parquet"]);
    }

    #[test]
    fn an_abandoned_write_leaves_nothing_behind() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("out.parquet");
        {
            let mut f = AtomicFile::create(&target).unwrap();
            f.write_all(b"partial").unwrap();
        }
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
