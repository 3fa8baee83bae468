//! The static directory, replaceable while the server runs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// A directory path that one thread may change while others read it.
#[derive(Debug)]
pub struct StaticRoot(RwLock<Arc<Path>>);

impl StaticRoot {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self(RwLock::new(Arc::from(path.into())))
    }

    /// The current directory.
    pub fn get(&self) -> Arc<Path> {
        Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Serve from `path` from the next request on.
    pub fn set(&self, path: impl Into<PathBuf>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::from(path.into());
    }
}
